"""Bearer tokens through the HTTP API, signed by a real OpenID issuer on loopback.

A good token opens `/api/v1/me` and the zone space; every bad one (missing, wrong scheme,
garbage, expired, not yet valid, for another audience, from another issuer, forged, `alg: none`,
HS256, no subject, malformed groups) is a 401 in the one error shape with a `WWW-Authenticate`
challenge, never a 500. The issuer's JWKS is cached, refetched once when it rotates its key,
and not hammered by unknown `kid`s. Then the two pure pieces: reading roles from the groups
claim, and the permission table.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from service import create_app, schema_migrations
from service.auth.permissions import ZONE_ACTIONS, Action, is_allowed
from service.auth.role_map import roles_from_groups
from service.auth.roles import Principal, Role
from service.config import Settings
from tests.conftest import environment
from tests.oidc_issuer import TestIssuer

ME = "/api/v1/me"
ZONE = "/api/v1/zone/tenants"
BOTH = pytest.mark.parametrize("path", [ME, ZONE])


def call(client, path: str, token: str | None = None, authorization: str | None = None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.get(path, headers=headers)


def assert_refused(response, error: str = "invalid_token") -> str:
    """A 401 in the one error shape with a sendable challenge; returns the challenge."""
    assert response.status_code == 401, response.get_data(as_text=True)
    body = response.json
    assert set(body) == {"code", "status", "message"}
    assert body["code"] == 401
    assert body["status"] == "Unauthorized"
    assert body["message"].startswith("Authentication failed: ")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="pmsc"')
    assert f'error="{error}"' in challenge
    # a header value the server can actually send (latin-1 is the limit; we keep to ASCII)
    assert challenge.isascii() and "\n" not in challenge
    return challenge


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict, claims) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


@pytest.fixture(scope="module")
def untrusted_key() -> RSAKey:
    """A key nobody trusts (generated once: RSA key generation is slow)."""
    return RSAKey.generate_key(2048, parameters={"use": "sig"})


def with_kid(key: RSAKey, kid: str) -> RSAKey:
    return RSAKey.import_key(key.as_dict(private=True), parameters={"kid": kid})


@pytest.fixture(scope="module")
def stranger():
    """A second, real issuer that the app does not trust."""
    server = TestIssuer(audience="pmsc-api").start()
    yield server
    server.stop()


# --- a good token -----------------------------------------------------------------------------


def test_valid_token_shows_subject_zone_roles_and_only_registered_branches(
    client, issuer, make_branch
):
    branch = make_branch(name="云创软件党支部")
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    token = issuer.token(
        [
            "pmsc:zone:viewer",
            f"pmsc:branch:{branch.slug}:admin",
            f"pmsc:branch:{branch.slug}:member",
            f"pmsc:branch:{ghost}:admin",
            "pmsc:zone:superuser",
            "unrelated-group",
        ],
        subject="alice-42",
        name="王芳",
    )
    response = call(client, ME, token)
    assert response.status_code == 200, response.json
    assert response.json == {
        "issuer": issuer.url,
        "subject": "alice-42",
        "name": "王芳",
        "zone_roles": ["zone:viewer"],
        "branches": [
            {
                "slug": branch.slug,
                "name": "云创软件党支部",
                "status": "active",
                "roles": ["branch:admin", "branch:member"],
            }
        ],
        "csrf_token": None,  # bearer requests need none
    }


def test_valid_zone_token_opens_the_zone_space(client, issuer):
    response = call(client, ZONE, issuer.token(["pmsc:zone:viewer"]))
    assert response.status_code == 200, response.json
    assert isinstance(response.json, list)


def test_clock_skew_within_the_leeway_is_tolerated(client, issuer):
    now = int(time.time())
    expired_a_moment_ago = issuer.token(exp=now - 10)
    valid_in_a_moment = issuer.token(nbf=now + 10, iat=now + 10)
    assert call(client, ME, expired_a_moment_ago).status_code == 200
    assert call(client, ME, valid_in_a_moment).status_code == 200


def test_audience_list_containing_ours_is_accepted(client, issuer):
    token = issuer.token(aud=["another-api", issuer.audience])
    assert call(client, ME, token).status_code == 200


# --- no token, wrong scheme, garbage ----------------------------------------------------------


@BOTH
def test_missing_authorization_is_a_bare_bearer_challenge(client, path):
    response = call(client, path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="pmsc"'
    assert set(response.json) == {"code", "status", "message"}
    assert "Authorization: Bearer" in response.json["message"]


@BOTH
@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearer "])
def test_wrong_scheme_is_an_invalid_request(client, path, authorization):
    assert_refused(call(client, path, authorization=authorization), error="invalid_request")


@BOTH
@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        "..",
        "ü.ü.ü",
        f"{b64(b'[]')}.{b64(b'[]')}.{b64(b'sig')}",
        f"{b64(b'{not json')}.{b64(b'{}')}.{b64(b'sig')}",
        # an unverified "iss" that cannot even be a dictionary key
        unsigned({"alg": "RS256", "kid": "rsa-1"}, {"iss": ["a", "b"], "sub": "x"}),
        unsigned({"alg": "RS256", "kid": "rsa-1"}, {"iss": {"nested": 1}, "sub": "x"}),
    ],
    ids=["word", "dots", "empty-parts", "non-ascii", "arrays", "bad-json", "iss-list", "iss-dict"],
)
def test_garbage_token_is_refused(client, path, token):
    assert_refused(call(client, path, token))


# --- time, audience, issuer -------------------------------------------------------------------


@BOTH
def test_token_expired_beyond_the_leeway_is_refused(client, issuer, path):
    token = issuer.token(["pmsc:zone:admin"], exp=int(time.time()) - 120)
    challenge = assert_refused(call(client, path, token))
    assert "expired" in challenge


@BOTH
def test_token_not_yet_valid_is_refused(client, issuer, path):
    token = issuer.token(["pmsc:zone:admin"], nbf=int(time.time()) + 300)
    challenge = assert_refused(call(client, path, token))
    assert "not yet valid" in challenge


@BOTH
def test_token_for_another_audience_is_refused(client, issuer, path):
    token = issuer.token(["pmsc:zone:admin"], aud="some-other-api")
    challenge = assert_refused(call(client, path, token))
    assert "aud" in challenge


@BOTH
def test_token_without_expiry_is_refused(client, issuer, path):
    assert_refused(call(client, path, issuer.token(["pmsc:zone:admin"], exp=None)))


@BOTH
def test_token_from_an_untrusted_issuer_is_refused_without_contacting_it(client, path, stranger):
    token = stranger.token(["pmsc:zone:admin"])
    challenge = assert_refused(call(client, path, token))
    assert "issuer is not trusted" in challenge
    assert stranger.jwks_requests == 0


# --- signatures and algorithms ----------------------------------------------------------------


@BOTH
def test_token_signed_by_an_untrusted_key_with_a_known_kid_is_refused(
    client, issuer, path, untrusted_key
):
    forger = with_kid(untrusted_key, issuer.keys[0].kid)
    token = issuer.token(["pmsc:zone:admin"], key=forger)
    challenge = assert_refused(call(client, path, token))
    assert "signature" in challenge


@BOTH
def test_token_with_a_tampered_payload_is_refused(client, issuer, path):
    header, _, signature = issuer.token(["pmsc:zone:viewer"]).split(".")
    claims = {
        "iss": issuer.url,
        "aud": issuer.audience,
        "sub": "mallory",
        "groups": ["pmsc:zone:admin"],
        "exp": int(time.time()) + 600,
    }
    token = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert_refused(call(client, path, token))


@BOTH
def test_alg_none_is_refused(client, issuer, path):
    claims = {
        "iss": issuer.url,
        "aud": issuer.audience,
        "sub": "mallory",
        "groups": ["pmsc:zone:admin"],
        "exp": int(time.time()) + 600,
    }
    for alg in ("none", "None"):
        token = unsigned({"alg": alg, "kid": issuer.keys[0].kid}, claims)
        challenge = assert_refused(call(client, path, token))
        assert "not accepted" in challenge


@BOTH
def test_hs256_token_is_refused_by_the_algorithm_allow_list(client, issuer, path):
    secret = OctKey.generate_key(256)
    claims = {
        "iss": issuer.url,
        "aud": issuer.audience,
        "sub": "mallory",
        "groups": ["pmsc:zone:admin"],
        "exp": int(time.time()) + 600,
    }
    token = jwt.encode({"alg": "HS256", "kid": issuer.keys[0].kid}, claims, secret)
    challenge = assert_refused(call(client, path, token))
    assert "HS256" in challenge


@BOTH
def test_token_with_an_unknown_kid_is_refused_with_a_sendable_challenge(
    client, issuer, path, untrusted_key
):
    stranger_key = with_kid(untrusted_key, "键-🔑\r\nX-Injected: 1")
    token = jwt.encode(
        {"alg": "RS256", "kid": stranger_key.kid},
        {"iss": issuer.url, "aud": issuer.audience, "sub": "x", "exp": int(time.time()) + 60},
        stranger_key,
    )
    response = call(client, path, token)
    challenge = assert_refused(response)
    assert "has no key" in challenge
    assert "X-Injected" not in response.headers


# --- claims -----------------------------------------------------------------------------------


@BOTH
def test_token_without_subject_is_refused(client, issuer, path):
    challenge = assert_refused(call(client, path, issuer.token(["pmsc:zone:admin"], sub=None)))
    assert "sub" in challenge


@BOTH
@pytest.mark.parametrize("groups", [{"pmsc:zone:admin": True}, 7])
def test_groups_claim_that_is_not_a_list_is_refused(client, issuer, path, groups):
    challenge = assert_refused(call(client, path, issuer.token(groups)))
    assert "groups" in challenge


def test_issuer_that_cannot_be_reached_means_401_not_500(tmp_path, issuer):
    unreachable = "http://127.0.0.1:1"
    env, _ = environment(
        "sqlite", tmp_path, PMSC_OIDC_ISSUER=unreachable, PMSC_OIDC_AUDIENCE=issuer.audience
    )
    app = create_app(env)
    token = issuer.token(["pmsc:zone:admin"], iss=unreachable)
    challenge = assert_refused(call(app.test_client(), ME, token))
    assert "could not be fetched" in challenge


# --- the JWKS cache and key rotation (an issuer and an app of their own) -----------------------


@pytest.fixture
def own(tmp_path):
    """A fresh issuer and an app trusting only it: rotation must not disturb the shared one."""
    own_issuer = TestIssuer().start()
    env, _ = environment(
        "sqlite", tmp_path, PMSC_OIDC_ISSUER=own_issuer.url, PMSC_OIDC_AUDIENCE=own_issuer.audience
    )
    Path(env["PMSC_INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    schema_migrations.upgrade(Settings.from_env(env))
    app = create_app(env)
    yield own_issuer, app.test_client()
    own_issuer.stop()
    from service.database import db

    with app.app_context():
        db.engine.dispose()


def test_jwks_is_fetched_once_for_many_requests_with_a_known_kid(own):
    own_issuer, client = own
    for _ in range(5):
        assert call(client, ME, own_issuer.token(["pmsc:zone:viewer"])).status_code == 200
    assert own_issuer.jwks_requests == 1


def test_rotated_key_is_accepted_after_one_jwks_refetch(own):
    own_issuer, client = own
    old_token = own_issuer.token(["pmsc:zone:viewer"])
    assert call(client, ME, old_token).status_code == 200
    assert own_issuer.jwks_requests == 1

    own_issuer.rotate()
    new_token = own_issuer.token(["pmsc:zone:viewer"], subject="after-rotation")
    response = call(client, ME, new_token)
    assert response.status_code == 200, response.json
    assert response.json["subject"] == "after-rotation"
    assert own_issuer.jwks_requests == 2

    for _ in range(3):
        assert call(client, ME, own_issuer.token()).status_code == 200
    assert own_issuer.jwks_requests == 2
    # the old key is no longer published, so its tokens stop working
    assert_refused(call(client, ME, old_token))


def test_flood_of_unknown_kids_refetches_the_jwks_at_most_once(own, untrusted_key):
    own_issuer, client = own
    assert call(client, ME, own_issuer.token()).status_code == 200
    before = own_issuer.jwks_requests
    for _ in range(6):
        forger = with_kid(untrusted_key, f"forged-{uuid.uuid4().hex}")
        assert_refused(call(client, ME, own_issuer.token(key=forger)))
    assert own_issuer.jwks_requests - before <= 1


# --- roles from the groups claim --------------------------------------------------------------


def test_roles_from_groups_reads_zone_and_branch_groups_and_ignores_junk():
    zone, branches = roles_from_groups(
        [
            "pmsc:zone:admin",
            "pmsc:zone:viewer",
            "pmsc:branch:hengtong-optics:admin",
            "pmsc:branch:hengtong-optics:member",
            "pmsc:branch:lvyuan-food:member",
            # junk: unknown roles, bad slugs, wrong prefixes, other types
            "pmsc:zone:owner",
            "pmsc:branch:UPPER-CASE:admin",
            "pmsc:branch:ab:admin",
            "pmsc:branch:lvyuan-food:secretary",
            "pmsc:branch:lvyuan-food:admin:extra",
            "PMSC:ZONE:ADMIN",
            " pmsc:zone:admin",
            "other:zone:admin",
            "",
            None,
            42,
            ["pmsc:zone:admin"],
        ]
    )
    assert zone == {Role.ZONE_ADMIN, Role.ZONE_VIEWER}
    assert branches == {
        "hengtong-optics": {Role.BRANCH_ADMIN, Role.BRANCH_MEMBER},
        "lvyuan-food": {Role.BRANCH_MEMBER},
    }


def test_roles_from_no_groups_are_empty():
    assert roles_from_groups([]) == (frozenset(), {})
    assert roles_from_groups(["pmsc:branch:x:admin", "admins"]) == (frozenset(), {})


# --- the permission table ---------------------------------------------------------------------


def principal(*groups: str) -> Principal:
    zone, branches = roles_from_groups(groups)
    return Principal(issuer="https://idp", subject="s", zone_roles=zone, branch_roles=branches)


BRANCH_ACTIONS = [a for a in Action if a not in ZONE_ACTIONS]


@pytest.mark.parametrize("action", BRANCH_ACTIONS)
def test_zone_roles_never_get_branch_actions(action):
    zone_everything = principal("pmsc:zone:admin", "pmsc:zone:viewer")
    assert not is_allowed(zone_everything, action, "hengtong-optics")
    assert not is_allowed(zone_everything, action, None)


def test_zone_admin_writes_the_register_and_zone_viewer_only_reads_it():
    admin, viewer = principal("pmsc:zone:admin"), principal("pmsc:zone:viewer")
    assert all(is_allowed(admin, action) for action in ZONE_ACTIONS)
    reads = {Action.TENANTS_READ, Action.TRAINING_TARGETS_READ, Action.ZONE_ACTIVITIES_READ}
    reads |= {Action.MEETING_SCHEDULE_READ}
    reads |= {Action.RANKINGS_READ}
    for action in reads:
        assert is_allowed(viewer, action), action
    for action in ZONE_ACTIONS - reads:
        # the register, targets and zone activities only: no writes, audit log, accounts, grants
        assert not is_allowed(viewer, action), action


@pytest.mark.parametrize("action", sorted(ZONE_ACTIONS))
def test_branch_roles_never_get_zone_actions(action):
    admin = principal("pmsc:branch:hengtong-optics:admin", "pmsc:branch:hengtong-optics:member")
    assert not is_allowed(admin, action)


def test_branch_member_reads_but_cannot_write_or_reveal_members():
    member = principal("pmsc:branch:hengtong-optics:member")
    assert is_allowed(member, Action.MEMBERS_READ, "hengtong-optics")
    assert is_allowed(member, Action.PARTY_GROUPS_READ, "hengtong-optics")
    for action in (Action.ACTIVITIES_READ, Action.TRAINING_READ, Action.REGISTRATIONS_READ):
        assert is_allowed(member, action, "hengtong-optics"), action
    for action in (
        Action.MEMBERS_WRITE,
        Action.MEMBERS_REVEAL,
        Action.PARTY_GROUPS_WRITE,
        Action.AUDIT_READ,
        Action.GRANTS_READ,
        Action.GRANTS_WRITE,
        Action.API_TOKENS_READ,
        Action.API_TOKENS_WRITE,
        Action.ACTIVITIES_WRITE,
        Action.ATTENDANCE_WRITE,
        Action.REGISTRATIONS_WRITE,
    ):
        assert not is_allowed(member, action, "hengtong-optics"), action


def token(role: Role) -> Principal:
    return Principal(
        issuer="urn:pmsc:api-token", subject="t", branch_roles={"hengtong-optics": {role}}
    )


def test_api_tokens_read_or_write_the_roster_and_manage_nothing():
    reader, writer = token(Role.TOKEN_READ), token(Role.TOKEN_READ_WRITE)
    roster = {
        Action.MEMBERS_READ,
        Action.PARTY_GROUPS_READ,
        Action.ACTIVITIES_READ,
        Action.TRAINING_READ,
        Action.REGISTRATIONS_READ,
        Action.STANDING_READ,
    }
    writes = {
        Action.MEMBERS_WRITE,
        Action.MEMBERS_REVEAL,
        Action.PARTY_GROUPS_WRITE,
        Action.ACTIVITIES_WRITE,
        Action.ATTENDANCE_WRITE,
        Action.REGISTRATIONS_WRITE,
    }
    for action in Action:
        assert is_allowed(reader, action, "hengtong-optics") == (action in roster), action
        assert is_allowed(writer, action, "hengtong-optics") == (action in roster | writes)
        assert not is_allowed(writer, action, "jinhe-chemical"), action


@pytest.mark.parametrize("action", BRANCH_ACTIONS)
def test_branch_admin_of_one_branch_has_nothing_in_another(action):
    admin_of_a = principal("pmsc:branch:hengtong-optics:admin")
    assert is_allowed(admin_of_a, action, "hengtong-optics")
    assert not is_allowed(admin_of_a, action, "jinhe-chemical")
    assert not is_allowed(admin_of_a, action, None)
