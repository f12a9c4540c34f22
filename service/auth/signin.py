"""Browser sign-in through the zone's identity provider: OpenID Connect authorization code
with PKCE (S256), `state` and `nonce`, by authlib's Flask client; server-side sessions.

The login transaction (state, nonce, PKCE verifier) lives in Flask's signed cookie `pmsc_login`
for the few seconds of the round trip; the signed-in session lives in the database, named by the
random secret of the `pmsc_session` cookie, so a sign-out or an expiry ends it everywhere.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from service.access import service as access
from service.access.models import User
from service.audit.recorder import set_actor
from service.auth.current import (
    SESSION_COOKIE,
    current_principal,
    optional_principal,
    session_principal,
    spaces_of,
)
from service.auth.role_map import groups_from_claims
from service.auth.roles import Principal
from service.config import Settings
from service.database import db

log = logging.getLogger(__name__)
bp = Blueprint("signin", __name__)
PROVIDER = "zone"
OAUTH_EXTENSION = "pmsc.oauth"
NEXT_KEY = "pmsc.next"
ID_TOKEN_LEEWAY_SECONDS = 30


def init_app(app: Flask, settings: Settings) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="pmsc_login",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if settings.oidc_client_id:
        # one registry per app: authlib's registry caches the client it creates, so a registry
        # shared by two apps (tests, or several apps in one process) would hand the second app
        # the first one's client, its provider and its credentials
        oauth = OAuth(app)
        app.extensions[OAUTH_EXTENSION] = oauth
        oauth.register(
            PROVIDER,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )
    app.register_blueprint(bp)


def _settings() -> Settings:
    return current_app.config["PMSC_SETTINGS"]


def _client():
    oauth = current_app.extensions.get(OAUTH_EXTENSION)
    return oauth.create_client(PROVIDER) if oauth is not None else None


def safe_next(target: str | None) -> str | None:
    """A local path to return to after sign-in; anything else (another host) is dropped."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


def landing_path(principal: Principal) -> str:
    """Where a person lands: the zone view for committee staff, their branch if they have one,
    else the chooser."""
    if principal.zone_roles:
        return "/zone/"
    spaces = [t for t, _ in spaces_of(principal) if t.status.value != "suspended"]
    return f"/t/{spaces[0].slug}/" if len(spaces) == 1 else "/spaces"


def start_signed_in_session(user: User, id_token: str | None, target: str | None) -> Response:
    """End any session the browser had, open a new one (a new secret: rotation at sign-in),
    and send the person on."""
    settings = _settings()
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        found = access.live_session(db.session, secret=old, idle=settings.session_idle)
        if found:
            access.end_session(db.session, session_id=found[0].id)
    access.purge_ended_sessions(db.session, idle=settings.session_idle)
    record, secret = access.start_session(
        db.session, user=user, id_token=id_token, lifetime=settings.session_lifetime
    )
    principal = session_principal(user, record, settings.role_map)
    session.clear()
    response = redirect(target or landing_path(principal))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(settings.session_lifetime.total_seconds()),
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="Lax",
        path="/",
    )
    return response


def _refused(reason: str) -> tuple[str, int, dict[str, str]]:
    log.info("sign-in refused: %s", reason)
    challenge = 'Bearer realm="pmsc", error="invalid_token", error_description="sign-in failed"'
    page = render_template("signin_failed.html", reason=reason)
    return page, 401, {"WWW-Authenticate": challenge}


@bp.get("/login")
def login():
    client = _client()
    if client is None:
        if _settings().dev_login:
            return redirect(url_for("dev_login.choose"))
        return render_template(
            "signin_failed.html",
            reason=_("Single sign-on is not configured yet (PMSC_OIDC_CLIENT_ID)."),
        ), 503
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    return client.authorize_redirect(url_for("signin.callback", _external=True))


@bp.get("/auth/callback")
def callback():
    client = _client()
    if client is None:
        return _refused("sign-in is not configured")
    settings = _settings()
    target = session.get(NEXT_KEY)
    try:
        metadata = client.load_server_metadata()
        # the provider may offer more algorithms than we accept; ours is the allow-list
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            alg for alg in offered if alg in settings.oidc_algorithms
        ]
        token = client.authorize_access_token(leeway=ID_TOKEN_LEEWAY_SECONDS)
        claims = token.get("userinfo")
        if not claims:
            return _refused("the provider sent no ID token")
        groups_source = claims
        if settings.groups_claim not in claims and metadata.get("userinfo_endpoint"):
            # some providers put groups only here
            groups_source = _userinfo_of(client, token, claims) or claims
        groups = groups_from_claims(groups_source, settings.groups_claim)
    except OAuthError as error:  # wrong state, replayed code, provider's error answers
        return _refused(f"{error.error or 'oauth error'}: {error.description or ''}".strip())
    except Exception as error:
        # authlib 1.9 raises joserfc's claim and signature errors, which are not authlib's
        # JoseError; any of them (and a provider that cannot be reached) is a refused sign-in
        from joserfc.errors import JoseError as JoserfcError
        from requests import RequestException

        if isinstance(error, JoserfcError | RequestException | ValueError | KeyError):
            return _refused(f"{type(error).__name__}: {error}")
        raise
    set_actor(
        db.session, {"iss": claims["iss"], "sub": str(claims["sub"]), "name": claims.get("name")}
    )
    user = access.upsert_user(
        db.session,
        issuer=claims["iss"],
        subject=str(claims["sub"]),
        name=claims.get("name"),
        username=claims.get("preferred_username"),
        email=claims.get("email"),
        groups=groups,
    )
    return start_signed_in_session(user, token.get("id_token"), target)


def _userinfo_of(client, token: dict, claims: dict) -> dict | None:
    """The provider's userinfo answer, for groups the ID token does not carry; None when it
    cannot be had (a provider may not take an access token issued for the API there, and one
    without groups omits the claim) or names someone else (OpenID Connect Core 5.3.2: its `sub`
    must be the ID token's). Without it the person signs in with the ID token's claims: no
    roles from groups, only grants made in the app."""
    from requests import RequestException

    try:
        info = client.userinfo(token=token)
    except (OAuthError, RequestException, ValueError) as error:
        log.info("userinfo not available, using the ID token's claims: %s", error)
        return None
    if str(info.get("sub")) != str(claims["sub"]):
        log.warning("userinfo answered for another subject; ignored")
        return None
    return info


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    if request.method == "GET":
        optional_principal()  # a signed-in person gets the form with its CSRF token
        return render_template("logout.html")
    principal = current_principal()  # a cookie POST is checked for its CSRF token there
    response = redirect(url_for("pages.landing"))
    if principal.session_id is not None:
        record = access.end_session(db.session, session_id=principal.session_id)
        client = _client()
        if record is not None and record.id_token and client is not None:
            end_session = client.load_server_metadata().get("end_session_endpoint")
            if end_session and principal.issuer == _settings().oidc_issuer:
                query = urlencode(
                    {
                        "id_token_hint": record.id_token,
                        "post_logout_redirect_uri": url_for("pages.landing", _external=True),
                        "client_id": _settings().oidc_client_id,
                    }
                )
                response = redirect(f"{end_session}?{query}")
    response.delete_cookie(SESSION_COOKIE, path="/")
    session.clear()
    return response


def csrf_token() -> str | None:
    """The session's CSRF token, for forms in templates."""
    return g.get("csrf_token")
