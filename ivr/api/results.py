"""The JSON shapes of recognition results, shared by the CLI, `/v1/recognize` and `/v1/stream`."""

from __future__ import annotations

from typing import Any

from recognizer.decoding import Word
from recognizer.stream import Event, Final, NoInputTimeout, Partial, SpeechStarted
from recognizer.transcribe import Transcript


def word_json(word: Word) -> dict[str, Any]:
    return {
        "word": word.word,
        "start": word.start,
        "end": word.end,
        "confidence": round(word.confidence, 4),
    }


def transcript_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "confidence": transcript.confidence,
        "duration_s": transcript.duration_s,
        "words": [word_json(w) for w in transcript.words],
    }


def event_json(event: Event) -> dict[str, Any]:
    if isinstance(event, SpeechStarted):
        return {"type": "speech_started", "utterance": event.utterance, "time_s": event.time_s}
    if isinstance(event, Partial):
        return {
            "type": "partial",
            "utterance": event.utterance,
            "text": event.text,
            "time_s": event.time_s,
        }
    if isinstance(event, NoInputTimeout):
        return {"type": "no_input", "time_s": event.time_s}
    assert isinstance(event, Final)
    return {
        "type": "final",
        "utterance": event.utterance,
        "text": event.text,
        "confidence": event.confidence,
        "words": [word_json(w) for w in event.words],
        "start_s": event.start_s,
        "end_s": event.end_s,
        "endpoint_s": event.endpoint_s,
        "cut": event.cut,
    }
