"""Encryption at rest of callers' data: AES-256-GCM, a key id in every record, rotation.

A sealed record is `b"ivr1:" + key_id + b":" + nonce(12) + ciphertext+tag`. The record's Redis
key is the associated data, so a record copied under another call's key does not open. The
first configured key writes; every configured key reads, so old records stay readable after a
new key is put first (`ivr data rotate-keys` then re-seals them under it).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dialogs.errors import SealingError
from ivr.settings import Settings

log = logging.getLogger(__name__)

MAGIC = b"ivr1:"
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(frozen=True)
class DataKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey({self.key_id!r})"


class Sealer:
    """Seals with the first key, opens with any key whose id the record names."""

    def __init__(self, keys: list[DataKey], *, ephemeral: bool = False) -> None:
        if not keys:
            raise SealingError("no data key configured (IVR_DATA_KEYS or IVR_DATA_KEYS_FILE)")
        self.keys = {k.key_id: AESGCM(k.secret) for k in keys}
        self.write_id = keys[0].key_id
        self.ephemeral = ephemeral

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys[self.write_id].encrypt(nonce, plaintext, aad)
        return MAGIC + self.write_id.encode() + b":" + nonce + sealed

    def key_id_of(self, record: bytes) -> str:
        if not record.startswith(MAGIC):
            raise SealingError("stored record is not sealed data (no ivr1 header)")
        key_id, sep, _ = record[len(MAGIC) :].partition(b":")
        if not sep:
            raise SealingError("stored record has no key id")
        return key_id.decode("ascii", "replace")

    def open(self, record: bytes, aad: bytes) -> bytes:
        key_id = self.key_id_of(record)
        aead = self.keys.get(key_id)
        if aead is None:
            raise SealingError(
                f"record sealed with key {key_id!r}, which is not configured; add it back to "
                "IVR_DATA_KEYS (after the write key) to read old records"
            )
        body = record[len(MAGIC) + len(key_id) + 1 :]
        try:
            return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealingError(
                f"record failed authentication with key {key_id!r}: tampered, moved from "
                "another key, or the key material changed"
            ) from None

    def reseal(self, record: bytes, aad: bytes) -> bytes | None:
        """The record sealed with the write key, or None when it already is."""
        if self.key_id_of(record) == self.write_id:
            return None
        return self.seal(self.open(record, aad), aad)


def parse_keys(spec: str) -> list[DataKey]:
    """`id:base64key,id2:base64key2` -> keys (16, 24 or 32 bytes each; 32 recommended)."""
    keys: list[DataKey] = []
    for part in (p.strip() for p in spec.replace("\n", ",").split(",")):
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise SealingError(
                "IVR_DATA_KEYS: each key is `id:base64key` with an id of letters, digits, "
                "`_.-` (make one with: ivr data new-key)"
            )
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SealingError(f"IVR_DATA_KEYS: key {key_id!r} is not valid base64") from None
        if len(secret) not in (16, 24, 32):
            raise SealingError(
                f"IVR_DATA_KEYS: key {key_id!r} is {len(secret)} bytes; AES needs 16, 24 or 32"
            )
        if any(k.key_id == key_id for k in keys):
            raise SealingError(f"IVR_DATA_KEYS: key id {key_id!r} appears twice")
        keys.append(DataKey(key_id, secret))
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh 256-bit key in the `id:base64key` form."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def sealer_from_settings(settings: Settings) -> Sealer:
    """The configured keys; with none, a random key for this process only (and a warning)."""
    spec = ""
    if settings.data_keys is not None:
        spec = settings.data_keys.get_secret_value()
    elif settings.data_keys_file is not None:
        try:
            spec = settings.data_keys_file.read_text("utf-8")
        except OSError as exc:
            raise SealingError(f"IVR_DATA_KEYS_FILE: cannot read: {exc.strerror}") from None
    keys = parse_keys(spec)
    if keys:
        return Sealer(keys)
    log.warning(
        "no IVR_DATA_KEYS: callers' data is sealed with a random key that dies with this "
        "process, so other replicas and restarts cannot read it; set IVR_DATA_KEYS "
        "(make a key with: ivr data new-key)"
    )
    return Sealer([DataKey("ephemeral", AESGCM.generate_key(bit_length=256))], ephemeral=True)
