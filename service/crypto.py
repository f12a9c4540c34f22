"""Encryption at rest of personal fields (ID-card numbers, phones) with Fernet keys.

`PMSC_DATA_KEY` holds one key or several, comma-separated: the first encrypts, all decrypt.
Rotation: put a new key first, keep the old ones after it, run `pmsc keys rotate`, then drop them.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Text, TypeDecorator


class FieldCipher:
    """Encrypts and decrypts field values with the configured keys."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def __repr__(self) -> str:
        return "<FieldCipher>"

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise _unknown_key() from None

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first (current) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise _unknown_key() from None


def _unknown_key() -> ValueError:
    return ValueError("an encrypted field cannot be decrypted with any key of PMSC_DATA_KEY")


def init_app(app: Flask, keys: tuple[str, ...]) -> None:
    app.extensions["pmsc.cipher"] = FieldCipher(keys)


def current_cipher() -> FieldCipher:
    """The cipher of the running app."""
    return current_app.extensions["pmsc.cipher"]


class EncryptedText(TypeDecorator):
    """A text column whose value is stored encrypted and read back in clear."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else current_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else current_cipher().decrypt(value)
