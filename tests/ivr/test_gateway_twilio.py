"""Twilio translator: Media Streams messages, the webhook signature, TwiML and the stream token."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from ivr.gateways import twilio
from ivr.gateways.wire import (
    AudioIn,
    CallStart,
    CallStop,
    Disconnect,
    DtmfIn,
    Ignored,
    MarkDone,
    PlayAudio,
    PlayMark,
    ProtocolError,
    StopAudio,
)

TOKEN = "12345678901234567890123456789012"
PARAMS = {"CallSid": "CA123", "From": "+15550001111", "To": "+15552223333", "Digits": "1"}


def start_message(**custom: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ1",
            "start": {
                "accountSid": "AC1",
                "streamSid": "MZ1",
                "callSid": "CA1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": custom,
            },
        }
    )


def test_start_gives_the_call_and_its_parameters() -> None:
    event = twilio.parse(start_message(ivr_token="t", caller="+1555"))
    assert isinstance(event, CallStart)
    assert (event.call_id, event.stream_id, event.encoding, event.sample_rate) == (
        "CA1",
        "MZ1",
        "pcmu",
        8000,
    )
    assert event.params["ivr_token"] == "t"


def test_media_dtmf_mark_stop_and_connected_are_translated() -> None:
    payload = base64.b64encode(b"\xff" * 160).decode()
    media = {"event": "media", "media": {"track": "inbound", "payload": payload}}
    assert twilio.parse(json.dumps(media)) == AudioIn(b"\xff" * 160)
    dtmf = {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "7"}}
    assert twilio.parse(json.dumps(dtmf)) == DtmfIn("7")
    assert twilio.parse(json.dumps({"event": "mark", "mark": {"name": "p1"}})) == MarkDone("p1")
    assert isinstance(twilio.parse(json.dumps({"event": "stop", "stop": {}})), CallStop)
    assert isinstance(twilio.parse('{"event": "connected", "protocol": "Call"}'), Ignored)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media", "media": "x"}',
        '{"event": "dtmf", "dtmf": {"digit": "x"}}',
        '{"event": "hello"}',
        '{"event": "start", "start": {"mediaFormat": {"encoding": "audio/l16"}}}',
        b"\x00\x01",
        "{" * 100000,
    ],
)
def test_malformed_messages_are_protocol_errors(raw: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        twilio.parse(raw)


def test_commands_render_as_media_mark_and_clear() -> None:
    media = json.loads(twilio.render(PlayAudio(b"\x01\x02"), "MZ1") or "")
    assert media == {"event": "media", "streamSid": "MZ1", "media": {"payload": "AQI="}}
    assert json.loads(twilio.render(PlayMark("m"), "MZ1") or "")["mark"] == {"name": "m"}
    assert json.loads(twilio.render(StopAudio(), "MZ1") or "")["event"] == "clear"
    assert twilio.render(Disconnect(), "MZ1") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://ivr.example.com/twilio/voice",
        "https://ivr.example.com:443/twilio/voice?x=1",
        "http://127.0.0.1:8080/twilio/voice",
    ],
)
def test_signature_matches_twilios_own_validator(url: str) -> None:
    validator = RequestValidator(TOKEN)
    theirs = validator.compute_signature(url, PARAMS)
    assert twilio.signature(TOKEN, url, PARAMS) == theirs
    assert twilio.signature_valid(TOKEN, url, PARAMS, theirs)
    assert validator.validate(url, PARAMS, twilio.signature(TOKEN, url, PARAMS))


def test_signature_over_the_url_with_or_without_the_port_is_accepted() -> None:
    signed_without = RequestValidator(TOKEN).compute_signature("https://a.example/v", PARAMS)
    assert twilio.signature_valid(TOKEN, "https://a.example:443/v", PARAMS, signed_without)
    signed_with = RequestValidator(TOKEN).compute_signature("https://a.example:443/v", PARAMS)
    assert twilio.signature_valid(TOKEN, "https://a.example/v", PARAMS, signed_with)


def test_a_changed_field_or_token_fails_the_signature() -> None:
    url = "https://a.example/v"
    good = twilio.signature(TOKEN, url, PARAMS)
    assert not twilio.signature_valid(TOKEN, url, {**PARAMS, "To": "+1999"}, good)
    assert not twilio.signature_valid("other", url, PARAMS, good)


def test_twiml_connect_carries_the_stream_parameters_and_action() -> None:
    body = twilio.twiml_connect("wss://h/twilio/stream", "https://h/a", {"ivr_token": 'a"<b'})
    root = ET.fromstring(body)
    connect = root.find("Connect")
    assert connect is not None and connect.get("action") == "https://h/a"
    stream = connect.find("Stream")
    assert stream is not None and stream.get("url") == "wss://h/twilio/stream"
    assert [(p.get("name"), p.get("value")) for p in stream] == [("ivr_token", 'a"<b')]


def test_twiml_dial_uses_sip_for_sip_targets() -> None:
    assert ET.fromstring(twilio.twiml_dial("+15550100")).findtext("Dial") == "+15550100"
    sip = ET.fromstring(twilio.twiml_dial("sip:a@b")).find("Dial/Sip")
    assert sip is not None and sip.text == "sip:a@b"
    assert ET.fromstring(twilio.twiml_reject_busy()).find("Reject").get("reason") == "busy"  # type: ignore[union-attr]


def claims(**changes: object) -> twilio.StreamClaims:
    values: dict[str, object] = {
        "call_id": "CA1",
        "tenant": "acme",
        "flow": "f",
        "caller": "+1",
        "called": "+2",
        "expires": time.time() + 60,
    }
    values.update(changes)
    return twilio.StreamClaims(**values)  # type: ignore[arg-type]


def test_stream_token_round_trips_and_refuses_tampering() -> None:
    token = twilio.make_stream_token(TOKEN, claims())
    assert twilio.verify_stream_token(TOKEN, token, "CA1").tenant == "acme"
    with pytest.raises(ProtocolError, match="bad signature"):
        twilio.verify_stream_token("other-key", token, "CA1")
    with pytest.raises(ProtocolError, match="another call"):
        twilio.verify_stream_token(TOKEN, token, "CA2")
    forged = twilio.make_stream_token("attacker", claims(tenant="victim"))
    with pytest.raises(ProtocolError):
        twilio.verify_stream_token(TOKEN, forged, "CA1")


def test_expired_stream_token_is_refused() -> None:
    token = twilio.make_stream_token(TOKEN, claims(expires=time.time() - 1))
    with pytest.raises(ProtocolError, match="expired"):
        twilio.verify_stream_token(TOKEN, token, "CA1")


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_fuzzed_text_is_an_event_or_a_protocol_error(raw: str | bytes) -> None:
    with contextlib.suppress(ProtocolError):
        twilio.parse(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.sampled_from(["start", "media", "dtmf", "mark", "stop", "connected"]),
    st.dictionaries(st.sampled_from(["start", "media", "dtmf", "mark", "stop"]), json_values),
)
def test_fuzzed_messages_with_known_events_never_crash_the_parser(
    event: str, body: dict[str, object]
) -> None:
    with contextlib.suppress(ProtocolError):
        twilio.parse(json.dumps({"event": event, **body}))


@given(st.text(max_size=200))
def test_fuzzed_stream_tokens_are_refused_cleanly(token: str) -> None:
    with pytest.raises(ProtocolError):
        twilio.verify_stream_token(TOKEN, token, "CA1")
