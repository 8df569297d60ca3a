"""jambonz / mod_audio_fork translator: metadata, L16 audio (stereo), events, rendered verbs."""

from __future__ import annotations

import base64
import contextlib
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.gateways import jambonz
from ivr.gateways.wire import (
    AudioIn,
    CallStart,
    Disconnect,
    DtmfIn,
    Ignored,
    MarkDone,
    PlayAudio,
    PlayMark,
    ProtocolError,
    StopAudio,
)

MONO = CallStart(call_id="c", sample_rate=8000)


def test_jambonz_metadata_gives_call_numbers_and_rate() -> None:
    meta = {
        "callSid": "abc",
        "from": "+1555",
        "to": "+1666",
        "sampleRate": 16000,
        "mixType": "mono",
    }
    start = jambonz.parse_metadata(json.dumps(meta))
    assert (start.call_id, start.caller, start.called, start.sample_rate, start.channels) == (
        "abc",
        "+1555",
        "+1666",
        16000,
        1,
    )


def test_mod_audio_fork_metadata_with_uuid_and_string_rate() -> None:
    start = jambonz.parse_metadata('{"uuid": "fs-1", "sampleRate": "8000", "mixType": "stereo"}')
    assert (start.call_id, start.sample_rate, start.channels) == ("fs-1", 8000, 2)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00",
        "{}",
        '{"callSid": "a", "sampleRate": 11025}',
        '{"callSid": "a", "mixType": "x"}',
    ],
)
def test_bad_metadata_is_refused(raw: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        jambonz.parse_metadata(raw)


def test_stereo_audio_keeps_the_callers_channel() -> None:
    caller = np.array([1, 2, 3], dtype="<i2")
    other = np.array([-9, -9, -9], dtype="<i2")
    frame = np.stack([caller, other], axis=1).tobytes()
    event = jambonz.parse(frame, CallStart(call_id="c", channels=2))
    assert event == AudioIn(caller.tobytes())


def test_odd_length_audio_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        jambonz.parse(b"\x00\x01\x02", MONO)


def test_dtmf_and_mark_events() -> None:
    assert jambonz.parse('{"event": "dtmf", "dtmf": "5", "duration": "160"}', MONO) == DtmfIn("5")
    mark = '{"type": "mark", "data": {"name": "p1", "event": "playout"}}'
    assert jambonz.parse(mark, MONO) == MarkDone("p1")
    assert isinstance(jambonz.parse('{"type": "playDone"}', MONO), Ignored)
    with pytest.raises(ProtocolError):
        jambonz.parse('{"event": "dtmf", "dtmf": "55"}', MONO)


def test_render_playaudio_mode() -> None:
    frame = jambonz.render(PlayAudio(b"\x01\x00", 8000), "playaudio")
    assert isinstance(frame, str)
    message = json.loads(frame)
    assert message["type"] == "playAudio"
    assert base64.b64decode(message["data"]["audioContent"]) == b"\x01\x00"
    assert message["data"]["sampleRate"] == 8000
    assert jambonz.render(PlayMark("m"), "playaudio") is None
    assert json.loads(str(jambonz.render(StopAudio(), "playaudio"))) == {"type": "killAudio"}
    assert json.loads(str(jambonz.render(Disconnect(), "stream"))) == {"type": "disconnect"}


def test_render_streaming_mode_sends_binary_and_marks() -> None:
    assert jambonz.render(PlayAudio(b"\x01\x00", 8000), "stream") == b"\x01\x00"
    mark = json.loads(str(jambonz.render(PlayMark("m"), "stream")))
    assert mark == {"type": "mark", "data": {"name": "m"}}


def test_action_hook_verbs() -> None:
    assert json.loads(jambonz.verbs_dial("+1555")) == [
        {"verb": "dial", "target": [{"type": "phone", "number": "+1555"}]}
    ]
    assert json.loads(jambonz.verbs_dial("sip:a@b"))[0]["target"][0]["sipUri"] == "sip:a@b"
    assert json.loads(jambonz.verbs_hangup()) == [{"verb": "hangup"}]
    listen = json.loads(jambonz.verbs_listen("wss://h/l", "https://h/a", 8000, "stream"))[0]
    assert listen["verb"] == "listen" and listen["bidirectionalAudio"]["streaming"] is True


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_fuzzed_first_frames_are_a_call_or_a_protocol_error(raw: str | bytes) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(jambonz.parse_metadata(raw), CallStart)


@given(st.text(max_size=300) | st.binary(max_size=300), st.sampled_from([1, 2]))
def test_fuzzed_frames_after_metadata_never_crash_the_parser(
    raw: str | bytes, channels: int
) -> None:
    with contextlib.suppress(ProtocolError):
        jambonz.parse(raw, CallStart(call_id="c", channels=channels))


@given(
    st.dictionaries(
        st.sampled_from(["callSid", "uuid", "from", "to", "sampleRate", "mixType", "metadata"]),
        st.none() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=3),
    )
)
def test_fuzzed_metadata_objects_never_crash_the_parser(meta: dict[str, object]) -> None:
    with contextlib.suppress(ProtocolError):
        jambonz.parse_metadata(json.dumps(meta))
