"""Validation of `Authorization: Bearer <JWT>` access tokens against trusted issuers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from service.auth.issuer_keys import KeysUnavailable
from service.auth.role_map import RoleMap, groups_from_claims
from service.auth.roles import Principal

CLOCK_LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token is not acceptable; the message says why, for the WWW-Authenticate header."""


class IssuerKeys(Protocol):
    issuer: str

    def key_for(self, kid: str | None) -> Key: ...


@dataclass(frozen=True)
class TrustedIssuer:
    keys: IssuerKeys
    audience: str


class BearerValidator:
    """Checks signature, `alg` (allow-list), `iss`, `aud`, `exp`, `nbf`; returns the caller."""

    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        algorithms: Iterable[str],
        groups_claim: str,
        role_map: RoleMap,
    ) -> None:
        self._issuers = {i.keys.issuer: i for i in issuers}
        self._algorithms = list(algorithms)
        self._groups_claim = groups_claim
        self._role_map = role_map

    def principal(self, token: str) -> Principal:
        """The caller the token speaks for; raises `InvalidToken`."""
        claims = self.claims(token)
        try:
            groups = groups_from_claims(claims, self._groups_claim)
        except ValueError as error:
            raise InvalidToken(str(error)) from None
        zone, branches = self._role_map.roles(groups)
        name = claims.get("name") or claims.get("preferred_username")
        return Principal(
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            name=str(name) if name else None,
            zone_roles=zone,
            branch_roles=branches,
        )

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; raises `InvalidToken`."""
        header, unverified = _peek(token)
        if header.get("alg") not in self._algorithms:
            raise InvalidToken(f"tokens signed with {header.get('alg')!r} are not accepted")
        issuer = unverified.get("iss")
        trusted = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if trusted is None:
            raise InvalidToken("the token's issuer is not trusted")
        try:
            key = trusted.keys.key_for(header.get("kid"))
            verified = jwt.decode(token, key, algorithms=self._algorithms)
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_LEEWAY_SECONDS,
                iss={"essential": True, "value": trusted.keys.issuer},
                aud={"essential": True, "value": trusted.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(verified.claims)
        except KeysUnavailable as error:
            raise InvalidToken(str(error)) from None
        except JoseError as error:
            raise InvalidToken(_describe(error)) from None
        return verified.claims


def _peek(token: str) -> tuple[dict, dict]:
    """Header and claims, unverified: only to pick the issuer whose key then verifies them."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a signed JWT")
    try:
        header, claims = (json.loads(_b64decode(p)) for p in parts[:2])
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("the token is not a signed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("the token is not a signed JWT")
    return header, claims


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _describe(error: JoseError) -> str:
    kind = type(error).__name__
    if kind == "ExpiredTokenError":
        return "the token has expired"
    if kind == "BadSignatureError":
        return "the token's signature is not valid"
    return f"the token is not valid: {error.description or kind}"
