"""Signing keys of a token issuer: fetched from its discovery document's JWKS and cached."""

from __future__ import annotations

import threading
import time

from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import Key, KeySet


class KeysUnavailable(Exception):
    """The issuer's keys cannot be had, or none has the token's `kid`."""


class RemoteIssuerKeys:
    """The JWKS of an OpenID issuer; refetched at most once per `min_refresh_seconds` on an
    unknown `kid` (key rotation), so a flood of forged kids cannot hammer the provider."""

    def __init__(self, issuer: str, *, timeout: float = 5.0, min_refresh_seconds: float = 10.0):
        self.issuer = issuer
        self._timeout = timeout
        self._min_refresh = min_refresh_seconds
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")

    def key_for(self, kid: str | None) -> Key:
        """The key with this `kid`; raises `KeysUnavailable`."""
        keys = self._keys
        if keys is not None:
            try:
                return keys.get_by_kid(kid)
            except InvalidKeyIdError:
                pass
        with self._lock:
            if self._keys is keys and time.monotonic() - self._fetched_at >= self._min_refresh:
                self._keys = self._fetch()
                # the first successful fetch opens no window: a key the issuer publishes right
                # after it (a rotation) is still looked up once; failures and refreshes do
                cold_start = keys is None and self._keys is not None
                self._fetched_at = float("-inf") if cold_start else time.monotonic()
            if self._keys is None:
                raise KeysUnavailable("the issuer's keys could not be fetched")
            try:
                return self._keys.get_by_kid(kid)
            except InvalidKeyIdError:
                raise KeysUnavailable(f"the issuer has no key {kid!r}") from None

    def _fetch(self) -> KeySet | None:
        import requests  # on first use: most processes never fetch a JWKS

        try:
            discovery = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if discovery.get("issuer", "").rstrip("/") != self.issuer:
                return None
            return KeySet.import_key_set(self._get_json(discovery["jwks_uri"]))
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return self._keys

    def _get_json(self, url: str) -> dict:
        import requests

        response = requests.get(url, timeout=self._timeout)
        response.raise_for_status()
        return response.json()


class StaticIssuerKeys:
    """Keys known in advance (the development login signs with a key of its own)."""

    def __init__(self, issuer: str, keys: KeySet) -> None:
        self.issuer = issuer
        self._keys = keys

    def key_for(self, kid: str | None) -> Key:
        try:
            return self._keys.get_by_kid(kid)
        except InvalidKeyIdError:
            raise KeysUnavailable(f"no key {kid!r}") from None
