"""Audio in: G.711 tables, linear PCM frames, streaming resampling and file input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from recognizer.audio import (
    ALAW_TO_LINEAR,
    MULAW_TO_LINEAR,
    AudioFormat,
    FrameDecoder,
    decode_bytes,
    encode_alaw,
    encode_mulaw,
    load_audio,
    read_audio,
    resample_to_model_rate,
)
from recognizer.errors import AudioFormatError


def test_mulaw_codes_round_trip_through_linear() -> None:
    codes = bytes(range(256))
    again = encode_mulaw(MULAW_TO_LINEAR)
    # 0x7F and 0xFF are both zero (mu-law has a positive and a negative zero)
    assert [a for a, b in zip(again, codes, strict=True) if a != b] == [0x7F]


def test_alaw_codes_round_trip_through_linear() -> None:
    assert encode_alaw(ALAW_TO_LINEAR) == bytes(range(256))


def test_g711_tables_match_the_standard_end_points() -> None:
    assert MULAW_TO_LINEAR[0x00] == -32124 and MULAW_TO_LINEAR[0x80] == 32124
    assert MULAW_TO_LINEAR[0xFF] == 0
    assert ALAW_TO_LINEAR[0xD5] == 8 and ALAW_TO_LINEAR[0x55] == -8
    assert ALAW_TO_LINEAR[0xAA] == 32256 and ALAW_TO_LINEAR[0x2A] == -32256


def test_linear_audio_survives_a_mulaw_round_trip_within_quantisation() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    back = decode_bytes(encode_mulaw(tone), "pcmu") * 32768
    assert np.max(np.abs(back - tone)) < 0.04 * 32767


def test_odd_length_l16_frame_is_refused_with_a_reason() -> None:
    with pytest.raises(AudioFormatError, match="odd-length"):
        decode_bytes(b"\x00\x01\x02", "l16")


@pytest.mark.parametrize(("encoding", "rate"), [("opus", 8000), ("l16", 11025), ("pcmu", 0)])
def test_unknown_formats_are_refused_naming_the_choices(encoding: str, rate: int) -> None:
    with pytest.raises(AudioFormatError, match="use one of"):
        AudioFormat.parse(encoding, rate)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_frame_by_frame_decoding_equals_decoding_the_whole_recording(rate: int) -> None:
    rng = np.random.default_rng(rate)
    pcm = (rng.standard_normal(rate) * 3000).astype("<i2").tobytes()
    decoder = FrameDecoder(AudioFormat.parse("l16", rate))
    step = rate // 50 * 2
    pieces = [decoder.feed(pcm[i : i + step]) for i in range(0, len(pcm), step)]
    streamed = np.concatenate([*pieces, decoder.flush()])
    whole = resample_to_model_rate(decode_bytes(pcm, "l16"), rate)
    assert len(streamed) == len(whole) == 16000
    np.testing.assert_array_equal(streamed, whole)


def test_files_are_read_as_mono_at_the_model_rate(tmp_path: Path) -> None:
    stereo = np.zeros((8000, 2), dtype=np.float32)
    stereo[:, 0] = 0.5
    path = tmp_path / "two.flac"
    soundfile.write(path, stereo, 8000)
    audio = load_audio(path)
    assert audio.ndim == 1 and abs(len(audio) - 16000) <= 1
    assert abs(float(np.median(audio)) - 0.25) < 0.01


def test_a_file_that_is_not_audio_gets_an_audio_format_error() -> None:
    with pytest.raises(AudioFormatError, match="cannot read audio"):
        read_audio(b"this is not a wav file", "upload")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["l16", "pcmu", "pcma"]))
def test_any_frame_bytes_decode_or_fail_with_an_audio_format_error(
    data: bytes, encoding: str
) -> None:
    try:
        samples = decode_bytes(data, encoding)  # type: ignore[arg-type]
    except AudioFormatError:
        assert encoding == "l16" and len(data) % 2 == 1
        return
    assert samples.dtype == np.float32
    assert np.all(np.abs(samples) <= 1.0)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096))
def test_any_file_bytes_are_read_or_fail_with_an_audio_format_error(data: bytes) -> None:
    try:
        samples, rate = read_audio(data)
    except AudioFormatError:
        return
    assert samples.ndim == 1 and rate > 0


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=44, max_size=200))
def test_wav_headers_with_garbage_are_read_or_refused_cleanly(tail: bytes) -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(100, dtype=np.int16), 8000, format="WAV")
    header = buffer.getvalue()[:44]
    try:
        samples, _ = read_audio(header[:20] + tail)
    except AudioFormatError:
        return
    assert samples.ndim == 1 and len(samples) > 0
