"""Sealing: authenticated encryption with a key id in each record, old keys still read."""

from __future__ import annotations

import pytest
from flowfiles import KEY_A, KEY_B

from dialogs.errors import SealingError
from dialogs.sealing import Sealer, parse_keys


def test_round_trip_and_key_id() -> None:
    sealer = Sealer(parse_keys(KEY_A))
    record = sealer.seal(b"account 12345678", b"ivr:dialog:c1")
    assert record.startswith(b"ivr1:a:") and b"12345678" not in record
    assert sealer.open(record, b"ivr:dialog:c1") == b"account 12345678"


def test_record_moved_to_another_key_does_not_open() -> None:
    sealer = Sealer(parse_keys(KEY_A))
    record = sealer.seal(b"secret", b"ivr:dialog:c1")
    with pytest.raises(SealingError, match="failed authentication"):
        sealer.open(record, b"ivr:dialog:c2")


def test_tampered_record_does_not_open() -> None:
    sealer = Sealer(parse_keys(KEY_A))
    record = bytearray(sealer.seal(b"secret", b"k"))
    record[-1] ^= 1
    with pytest.raises(SealingError, match="failed authentication"):
        sealer.open(bytes(record), b"k")


def test_new_key_writes_old_key_reads() -> None:
    old = Sealer(parse_keys(KEY_A)).seal(b"before", b"k")
    rotated = Sealer(parse_keys(f"{KEY_B},{KEY_A}"))
    assert rotated.open(old, b"k") == b"before"
    fresh = rotated.reseal(old, b"k")
    assert fresh is not None and fresh.startswith(b"ivr1:b:")
    assert rotated.reseal(fresh, b"k") is None
    with pytest.raises(SealingError, match="key 'a', which is not configured"):
        Sealer(parse_keys(KEY_B)).open(old, b"k")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "each key is `id:base64key`"),
        ("a:!!!", "not valid base64"),
        ("a:" + "QUJD", "is 3 bytes"),
        (f"{KEY_A},{KEY_A}", "appears twice"),
    ],
)
def test_bad_key_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(SealingError, match=message):
        parse_keys(spec)
