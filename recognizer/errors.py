"""The recognizer's exceptions: one base class whose `http_status` `ivr/errors.py` maps to JSON."""

from __future__ import annotations


class RecognizerError(Exception):
    """Base of every recognizer failure; the message says what was wrong and what to do."""

    http_status = 500


class AudioFormatError(RecognizerError):
    """The audio cannot be decoded: unknown encoding or rate, odd-length frame, unreadable file."""

    http_status = 400


class ModelError(RecognizerError):
    """The model folder is missing a file or holds one that does not load."""

    http_status = 503


class EngineError(RecognizerError):
    """A forward pass of the acoustic model failed."""

    http_status = 500


class OverloadedError(RecognizerError):
    """Too many concurrent streams in this process; the client should retry elsewhere."""

    http_status = 503


class HotwordFormatError(RecognizerError):
    """A hot-word phrase or boost in a request is invalid."""

    http_status = 400
