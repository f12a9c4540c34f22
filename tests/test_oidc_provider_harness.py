"""The OpenID Provider harness works: a real oidc-provider on loopback, signed in to through its
own pages by the browserless agent, issuing ID tokens and JWT access tokens for the service."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from service.auth.issuer_keys import RemoteIssuerKeys
from tests.oidc_provider_harness import (
    BrowserlessAgent,
    NodeProvider,
    authorization_code_tokens,
    pkce_pair,
    requires_node,
)

pytestmark = requires_node()

WEB_CALLBACK = "http://127.0.0.1:9/auth/callback"
WEB_SIGNED_OUT = "http://127.0.0.1:9/signed-out"
CLIENTS = [
    {
        "client_id": "pmsc-web",
        "client_secret": "web-secret-" + "x" * 32,
        "redirect_uris": [WEB_CALLBACK],
        "post_logout_redirect_uris": [WEB_SIGNED_OUT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    },
    {
        "client_id": "pmsc-cli",
        "client_secret": "cli-secret-" + "y" * 32,
        "redirect_uris": ["http://127.0.0.1:9/cli/callback"],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "first_party": True,  # never asks for consent
    },
]
ACCOUNTS = {
    "alice": {
        "name": "王丽",
        "preferred_username": "alice",
        "email": "alice@example.test",
        "groups": ["pmsc:zone:admin"],
    },
    "bob": {
        "name": "Bob",
        "preferred_username": "bob",
        "email": "bob@example.test",
        "groups": ["pmsc:branch:hengtong-optics:member"],
    },
}


@pytest.fixture(scope="module")
def provider() -> Iterator[NodeProvider]:
    with NodeProvider(clients=CLIENTS, accounts=ACCOUNTS) as running:
        yield running


def public_keys(provider: NodeProvider) -> KeySet:
    return KeySet.import_key_set(provider.jwks())


def verified(token: str, provider: NodeProvider) -> jwt.Token:
    decoded = jwt.decode(token, public_keys(provider), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        exp={"essential": True},
        sub={"essential": True},
    ).validate(decoded.claims)
    return decoded


def test_discovery_names_the_issuer_its_keys_and_logout(provider):
    discovery = provider.discovery()

    assert discovery["issuer"] == provider.issuer == f"http://127.0.0.1:{provider.port}"
    assert discovery["jwks_uri"].startswith(provider.issuer)
    assert discovery["end_session_endpoint"].startswith(provider.issuer)
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email", "groups"} <= set(discovery["scopes_supported"])
    assert "groups" in discovery["claims_supported"]
    served = provider.jwks()["keys"]
    assert [k["kid"] for k in served] == [k.kid for k in provider.keys]
    assert not any("d" in k or "p" in k for k in served)  # public halves only


def test_code_flow_with_pkce_gives_a_signed_id_token_with_groups(provider):
    nonce = secrets.token_urlsafe(16)
    with BrowserlessAgent("alice", provider=provider) as agent:
        tokens = authorization_code_tokens(
            provider, "pmsc-web", "alice", WEB_CALLBACK, agent=agent, nonce=nonce
        )
        actions = [hop.action for hop in agent.hops]

    assert actions[-1] == "stop" and "login" in actions and "consent" in actions
    id_token = verified(tokens["id_token"], provider)
    assert id_token.header["kid"] == provider.keys[0].kid
    assert id_token.claims["aud"] == "pmsc-web"
    assert id_token.claims["nonce"] == nonce
    assert id_token.claims["sub"] == "alice"
    assert id_token.claims["name"] == "王丽"
    assert id_token.claims["email"] == "alice@example.test"
    assert id_token.claims["groups"] == ["pmsc:zone:admin"]


def test_access_token_is_a_jwt_for_the_resource_with_groups(provider):
    with BrowserlessAgent("bob", provider=provider) as agent:
        tokens = authorization_code_tokens(provider, "pmsc-cli", "bob", agent=agent)
        actions = [hop.action for hop in agent.hops]

    assert "consent" not in actions  # a first-party client
    assert tokens["token_type"] == "Bearer"
    access = verified(tokens["access_token"], provider)
    assert access.header["alg"] == "RS256"
    assert access.header["typ"] == "at+jwt"
    assert access.claims["aud"] == provider.resource == "pmsc-api"
    assert access.claims["client_id"] == "pmsc-cli"
    assert access.claims["sub"] == "bob"
    assert access.claims["groups"] == ["pmsc:branch:hengtong-optics:member"]
    assert access.claims["name"] == "Bob"


def test_an_unknown_login_signs_in_with_just_a_subject(provider):
    tokens = authorization_code_tokens(provider, "pmsc-cli", "nobody-known")

    claims = verified(tokens["id_token"], provider).claims
    assert claims["sub"] == "nobody-known"
    assert "groups" not in claims and "name" not in claims
    assert verified(tokens["access_token"], provider).claims["groups"] == []


def test_a_second_authorization_needs_no_login_nor_consent(provider):
    with BrowserlessAgent("alice", provider=provider) as agent:
        authorization_code_tokens(provider, "pmsc-web", "alice", agent=agent)
        assert any(hop.interaction for hop in agent.hops)

        tokens = authorization_code_tokens(provider, "pmsc-web", "alice", agent=agent)

        assert [hop.action for hop in agent.hops] == ["stop"]  # straight back with a code
        assert not any("/interaction/" in hop.url for hop in agent.hops)
    assert verified(tokens["id_token"], provider).claims["sub"] == "alice"


def test_pkce_is_required(provider):
    query = {
        "client_id": "pmsc-web",
        "response_type": "code",
        "redirect_uri": WEB_CALLBACK,
        "scope": "openid",
        "state": "s1",
    }
    authorize = provider.discovery()["authorization_endpoint"]
    with BrowserlessAgent("alice", provider=provider) as agent:
        _, hops = agent.follow(f"{authorize}?{urlencode(query)}", stop_at=WEB_CALLBACK)

    answer = parse_qs(urlsplit(hops[-1].location).query)
    assert answer["error"] == ["invalid_request"]
    assert "PKCE" in answer["error_description"][0]


def test_a_wrong_code_verifier_is_refused(provider):
    _, someone_elses_challenge = pkce_pair()
    with pytest.raises(RuntimeError, match="invalid_grant"):
        authorization_code_tokens(
            provider, "pmsc-cli", "bob", extra={"code_challenge": someone_elses_challenge}
        )


def test_rp_initiated_logout_ends_the_provider_session(provider):
    with BrowserlessAgent("alice", provider=provider) as agent:
        tokens = authorization_code_tokens(provider, "pmsc-web", "alice", agent=agent)
        logout = {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": WEB_SIGNED_OUT,
            "state": "bye-1",
        }
        end_session = provider.discovery()["end_session_endpoint"]

        _, hops = agent.follow(f"{end_session}?{urlencode(logout)}", stop_at=WEB_SIGNED_OUT)

        assert [hop.action for hop in hops] == ["logout", "stop"]
        assert parse_qs(urlsplit(hops[-1].location).query)["state"] == ["bye-1"]
        authorization_code_tokens(provider, "pmsc-web", "alice", agent=agent)
        assert "login" in [hop.action for hop in agent.hops]  # signed out: asked again


def test_rotate_keys_serves_a_new_kid_on_the_same_issuer(provider):
    issuer, port = provider.issuer, provider.port
    old_kid = provider.jwks()["keys"][0]["kid"]
    service_keys = RemoteIssuerKeys(issuer)  # what the service fetches keys with
    before = authorization_code_tokens(provider, "pmsc-cli", "bob")["access_token"]
    assert service_keys.key_for(old_kid).kid == old_kid

    new_keys = provider.rotate_keys()

    assert (provider.issuer, provider.port) == (issuer, port)
    assert provider.discovery()["issuer"] == issuer
    assert [k["kid"] for k in provider.jwks()["keys"]] == [new_keys[0].kid] != [old_kid]
    after = authorization_code_tokens(provider, "pmsc-cli", "bob")["access_token"]
    new_kid = jwt.decode(after, public_keys(provider)).header["kid"]
    assert new_kid == new_keys[0].kid
    assert service_keys.key_for(new_kid).kid == new_kid  # a running service finds the new key
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(before, public_keys(provider))  # the old key is gone


def test_tests_can_sign_tokens_with_the_provider_keys(provider):
    token = provider.sign({"iss": provider.issuer, "sub": "x", "aud": provider.resource})

    decoded = jwt.decode(token, public_keys(provider))
    assert decoded.claims["aud"] == "pmsc-api"
    assert decoded.header["kid"] == provider.keys[0].kid
