"""The development login's own token issuer: a signing key kept in `instance/`.

Exists only when `PMSC_ENV=development` and `PMSC_DEV_LOGIN=1` (config refuses it elsewhere).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from service.auth.issuer_keys import StaticIssuerKeys
from service.config import DEV_LOGIN_AUDIENCE, DEV_LOGIN_ISSUER, instance_secret

TOKEN_LIFETIME_SECONDS = 8 * 3600


def _new_signing_key() -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": "dev-login", "use": "sig"})
    return json.dumps(key.as_dict(private=True))


class DevIssuer:
    """Signs development tokens with a key generated once into the instance folder."""

    def __init__(self, instance_path: Path) -> None:
        stored = instance_secret(instance_path, "dev-login-key.json", _new_signing_key)
        self._key = RSAKey.import_key(json.loads(stored))

    def keys(self) -> StaticIssuerKeys:
        public = RSAKey.import_key(self._key.as_dict(private=False))
        return StaticIssuerKeys(DEV_LOGIN_ISSUER, KeySet([public]))

    def issue(self, *, subject: str, name: str, groups: list[str]) -> str:
        """A signed access token for a demo user."""
        now = int(time.time())
        claims = {
            "iss": DEV_LOGIN_ISSUER,
            "aud": DEV_LOGIN_AUDIENCE,
            "sub": subject,
            "name": name,
            "groups": groups,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
        }
        return jwt.encode({"alg": "RS256", "kid": self._key.kid}, claims, self._key)
