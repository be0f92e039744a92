"""Encryption at rest for referral narratives and dialog state.

Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`; MultiFernet lets a new key be
added in front of the old ones, so keys rotate without re-encrypting everything at once.
"""

from __future__ import annotations

import logging

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
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as error:
            raise SettingsError(
                "ENCRYPTION_KEYS holds a key that is not a Fernet key "
                "(32 url-safe base64 bytes); generate one with `make key`."
            ) from error

    def encrypt(self, plaintext: str) -> bytes:
        return self.encrypt_bytes(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        return self.decrypt_bytes(token).decode("utf-8")

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as error:
            raise DecryptionError(
                "stored data cannot be decrypted with the configured keys"
            ) from error


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
