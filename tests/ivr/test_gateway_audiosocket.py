"""Asterisk AudioSocket translator: framing, the UUID handshake, audio rates, DTMF, errors."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.gateways import audiosocket
from ivr.gateways.wire import AudioIn, CallStop, Disconnect, DtmfIn, PlayAudio, ProtocolError

CALL = uuid.UUID("40325ec2-5efd-4bd3-805f-53576e581d13")


def split(data: bytes) -> tuple[int, bytes]:
    kind, length = audiosocket.parse_header(data[:3])
    return kind, data[3 : 3 + length]


def test_uuid_frame_starts_the_call() -> None:
    kind, payload = split(audiosocket.frame(audiosocket.KIND_UUID, CALL.bytes))
    assert audiosocket.parse_uuid(kind, payload).call_id == str(CALL)


def test_first_frame_must_be_the_uuid() -> None:
    with pytest.raises(ProtocolError, match="UUID"):
        audiosocket.parse_uuid(0x10, b"\x00\x00")


def test_header_is_type_and_big_endian_length() -> None:
    assert audiosocket.frame(0x10, b"\x01\x02") == b"\x10\x00\x02\x01\x02"
    assert audiosocket.parse_header(b"\x10\x01\x40") == (0x10, 320)


@pytest.mark.parametrize(("kind", "rate"), [(0x10, 8000), (0x12, 16000), (0x16, 48000)])
def test_audio_frames_at_each_rate(kind: int, rate: int) -> None:
    assert audiosocket.rate_of(kind) == rate
    assert audiosocket.parse(kind, b"\x00\x01" * 160) == AudioIn(b"\x00\x01" * 160)
    rendered = audiosocket.render(PlayAudio(b"\x00\x00", rate))
    assert rendered == bytes([kind, 0, 2, 0, 0])


def test_dtmf_hangup_and_error_frames() -> None:
    assert audiosocket.parse(audiosocket.KIND_DTMF, b"#") == DtmfIn("#")
    assert audiosocket.parse(audiosocket.KIND_HANGUP, b"") == CallStop("hangup")
    stop = audiosocket.parse(audiosocket.KIND_ERROR, b"\x02")
    assert isinstance(stop, CallStop) and "0x02" in stop.reason
    assert audiosocket.render(Disconnect()) == b"\x00\x00\x00"


@pytest.mark.parametrize(
    ("header", "problem"),
    [(b"\x42\x00\x00", "unknown"), (b"\x10\xff\xff", "over"), (b"\x01\x00\x40", "too long")],
)
def test_bad_headers_are_protocol_errors(header: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        audiosocket.parse_header(header)


def test_odd_audio_and_bad_dtmf_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        audiosocket.parse(0x10, b"\x00")
    with pytest.raises(ProtocolError):
        audiosocket.parse(audiosocket.KIND_DTMF, b"x")


@given(st.binary(max_size=400))
def test_fuzzed_byte_streams_parse_to_events_or_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        while len(data) >= 3:
            kind, length = audiosocket.parse_header(data[:3])
            payload, data = data[3 : 3 + length], data[3 + length :]
            if kind == audiosocket.KIND_UUID:
                audiosocket.parse_uuid(kind, payload)
            else:
                audiosocket.parse(kind, payload)
