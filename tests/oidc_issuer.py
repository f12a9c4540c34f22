"""A real OpenID Connect issuer for the tests: discovery document and JWKS over HTTP on
loopback, and access tokens signed with its RSA (and EC) keys."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class TestIssuer:
    """Serves `/.well-known/openid-configuration` and `/jwks`; signs tokens."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, audience: str = "pmsc-api") -> None:
        self.audience = audience
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})]
        self.jwks_requests = 0
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> TestIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            body = {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
        elif request.path == "/jwks":
            self.jwks_requests += 1
            body = KeySet(self.keys).as_dict(private=False)
        else:
            return Response("not found", status=404)
        return Response(json.dumps(body), content_type="application/json")

    def rotate(self) -> None:
        """Publish a new key (and sign with it from now on), dropping the old one."""
        kid = f"rsa-{uuid.uuid4().hex[:8]}"
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})]

    def add_ec_key(self) -> ECKey:
        key = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
        self.keys.append(key)
        return key

    def token(
        self,
        groups: list[str] | None = None,
        *,
        subject: str | None = None,
        name: str = "测试用户",
        lifetime: int = 600,
        key: Any = None,
        alg: str = "RS256",
        header: dict | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; any claim can be overridden (None removes it)."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": self.audience,
            "sub": subject or f"user-{uuid.uuid4().hex}",
            "name": name,
            "groups": groups or [],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signing_key = key or self.keys[0]
        return jwt.encode({"alg": alg, "kid": signing_key.kid, **(header or {})}, body, signing_key)
