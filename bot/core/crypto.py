"""Encryption at rest: narratives, dialog state, and people's names, emails and references.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`; MultiFernet lets a new key be
added in front of the old ones, so keys rotate without re-encrypting everything at once
(`python -m bot.privacy.rotate` then re-encrypts, so the old key can be removed).

Fernet is randomised, so an encrypted column cannot be searched by value. Where the bot looks
something up by value (a person by email), it keeps a keyed hash beside it: an HMAC under a
key derived from each encryption key, so a look-up tries every configured key and rotation
re-hashes with the newest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.core.settings import Mode, Settings, SettingsError

log = logging.getLogger(__name__)


class DecryptionError(RuntimeError):
    """Stored data could not be decrypted with any configured key."""


class Cipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SettingsError("At least one encryption key is needed.")
        try:
            fernets = [Fernet(key.encode()) for key in keys]
            self._hash_keys = [_hash_key(key) for key in keys]
            self._signing_keys = [
                _derived(key, b"reflective-practice link signature") for key in keys
            ]
        except (ValueError, TypeError) as error:
            raise SettingsError(
                "ENCRYPTION_KEYS holds a key that is not a Fernet key "
                "(32 url-safe base64 bytes); generate one with `make key`."
            ) from error
        self._fernet = MultiFernet(fernets)
        self._newest = fernets[0]

    @property
    def key_count(self) -> int:
        return len(self._hash_keys)

    def encrypt(self, plaintext: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        return self.decrypt_bytes(token).decode("utf-8")

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt_bytes(self, token: bytes) -> bytes:
        with _no_key_reads_it():
            return self._fernet.decrypt(token)

    def is_current(self, token: bytes) -> bool:
        """Whether `token` was encrypted with the newest key (rotation skips it)."""
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        """The same plaintext, encrypted again with the newest key."""
        with _no_key_reads_it():
            return self._fernet.rotate(token)

    def lookup_hash(self, value: str) -> str:
        """The keyed hash to store beside an encrypted value that is looked up (newest key)."""
        return _keyed_hash(self._hash_keys[0], value)

    def lookup_hashes(self, value: str) -> list[str]:
        """Every hash `value` may be stored under: one per configured key, newest first."""
        return [_keyed_hash(key, value) for key in self._hash_keys]

    def sign(self, value: str) -> str:
        """An HMAC of `value` (a link's contents) under the newest key, url-safe."""
        return _signature(self._signing_keys[0], value)

    def signed(self, value: str, signature: str) -> bool:
        """Whether `signature` is `value`'s under any configured key (links outlive a rotation)."""
        return any(
            hmac.compare_digest(_signature(key, value), signature) for key in self._signing_keys
        )


def _signature(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@contextmanager
def _no_key_reads_it() -> Iterator[None]:
    try:
        yield
    except InvalidToken as error:
        raise DecryptionError("stored data cannot be decrypted with the configured keys") from error


def _hash_key(fernet_key: str) -> bytes:
    # A key of its own for hashing, derived from the Fernet key: a hash never reveals or
    # reuses the key that encrypts.
    return _derived(fernet_key, b"reflective-practice lookup hash")


def _derived(fernet_key: str, purpose: bytes) -> bytes:
    raw = base64.urlsafe_b64decode(fernet_key.encode())
    return hmac.new(raw, purpose, hashlib.sha256).digest()


def _keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def cipher_from_settings(settings: Settings) -> Cipher:
    """The configured cipher; in development without keys, a throwaway one with a warning."""
    if settings.encryption_keys:
        return Cipher(settings.encryption_keys)
    if settings.mode is Mode.PRODUCTION:  # Settings already refuses this; keep the guard local.
        raise SettingsError("ENCRYPTION_KEYS is required in production.")
    log.warning(
        "ENCRYPTION_KEYS is not set: using a temporary key, so data stored now cannot be read "
        "after a restart. Set ENCRYPTION_KEYS (make key) to keep data."
    )
    return Cipher([Fernet.generate_key().decode()])
