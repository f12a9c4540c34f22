"""The caller of the current request, and the decorator that checks the permission table."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_smorest import abort

from service.auth.bearer import BearerValidator, InvalidToken, TrustedIssuer
from service.auth.dev_issuer import DevIssuer
from service.auth.issuer_keys import RemoteIssuerKeys
from service.auth.permissions import ZONE_ACTIONS, Action, is_allowed
from service.auth.roles import Principal
from service.config import DEV_LOGIN_AUDIENCE, Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Trust the configured OpenID issuer, and the development login when it is on."""
    issuers = []
    if settings.oidc_issuer:
        issuers.append(
            TrustedIssuer(RemoteIssuerKeys(settings.oidc_issuer), settings.oidc_audience or "")
        )
    if settings.dev_login:
        dev = DevIssuer(settings.instance_path)
        app.extensions["pmsc.dev_issuer"] = dev
        issuers.append(TrustedIssuer(dev.keys(), DEV_LOGIN_AUDIENCE))
    algorithms = set(settings.oidc_algorithms) | ({"RS256"} if settings.dev_login else set())
    app.extensions["pmsc.bearer"] = BearerValidator(issuers, algorithms, settings.groups_claim)


def _unauthorized(reason: str, error: str = "invalid_token") -> None:
    # the reason may quote the token's own header (its kid, its alg): a header value must stay
    # printable ASCII inside a quoted-string, or the server cannot send the response at all
    described = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in reason)
    challenge = f'Bearer realm="pmsc", error="{error}", error_description="{described}"'
    if error == "":
        challenge = 'Bearer realm="pmsc"'
    abort(401, message=f"Authentication failed: {reason}.", headers={"WWW-Authenticate": challenge})


def current_principal() -> Principal:
    """The authenticated caller; aborts with 401 and a `WWW-Authenticate` challenge otherwise."""
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        _unauthorized("send an access token as 'Authorization: Bearer <token>'", error="")
    if scheme.lower() != "bearer" or not token.strip():
        _unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request")
    try:
        principal = current_app.extensions["pmsc.bearer"].principal(token.strip())
    except InvalidToken as error:
        _unauthorized(str(error).replace('"', "'"))
    g.principal = principal
    return principal


def require(action: Action) -> Callable:
    """View decorator: 403 unless the caller's roles allow `action` here."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            slug = None if action in ZONE_ACTIONS else g.tenant.slug
            if not is_allowed(principal, action, slug):
                abort(403, message=f"Your roles do not allow {action.value}.")
            return view(*args, **kwargs)

        wrapper.required_action = action
        return wrapper

    return decorator


def allowed(action: Action) -> bool:
    """Whether the caller may take `action` in the current branch (for masking choices)."""
    tenant = g.get("tenant")
    return is_allowed(current_principal(), action, tenant.slug if tenant else None)
