"""The capture of the run's logs and the search for secrets in them (`tests.log_secrets`): the
search runs at the end of every session (`pytest_sessionfinish` in `tests/conftest.py`); these
tests show it would see what it looks for."""

from __future__ import annotations

import logging
import uuid

from tests import log_secrets
from tests.conftest import DATA_KEY, SECRET_KEY, branch_admin_of


def test_the_capture_sees_an_info_record_of_the_service(app):
    marker = f"capture-probe-{uuid.uuid4().hex}"
    logging.getLogger("service.some_module").info("a probe: %s", marker)
    assert any(marker in line for line in log_secrets.CAPTURE.lines)
    assert log_secrets.CAPTURE in logging.getLogger().handlers


def test_the_capture_keeps_a_traceback(app):
    marker = f"traceback-probe-{uuid.uuid4().hex}"
    try:
        raise ValueError(marker)
    except ValueError:
        logging.getLogger("service.some_module").exception("failed")
    assert any(marker in line and "Traceback" in line for line in log_secrets.CAPTURE.lines)


def test_the_configuration_secrets_are_known_once_an_app_is_built(app):
    assert SECRET_KEY in log_secrets.SECRETS
    assert DATA_KEY in log_secrets.SECRETS


def test_a_minted_api_token_secret_is_known(client, make_branch, as_groups):
    branch = make_branch()
    made = branch_admin_of(as_groups, branch).post(
        f"/api/v1/t/{branch.slug}/api-tokens", json={"name": "集成", "scope": "read"}
    )
    assert made.status_code == 201
    assert made.json["secret"] in log_secrets.SECRETS


def test_the_test_issuer_private_key_is_known(issuer):
    private = issuer.keys[0].as_dict(private=True)
    assert private["d"] in log_secrets.SECRETS


def test_a_known_secret_a_jwt_and_an_api_token_are_found_in_log_lines():
    secret = "s3cr3t-" + uuid.uuid4().hex
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eXp4eXp4eXoifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"
    token = "pmsct_" + "a" * 32 + "_" + "B" * 43
    lines = [
        "INFO service.x nothing here",
        f"ERROR service.y failed with key {secret}",
        f"INFO werkzeug Authorization: Bearer {jwt}",
        f"WARNING service.z token {token} refused",
    ]
    found = log_secrets.leaks(lines, {secret, "short"})
    assert len(found) == 3
    assert found[0].startswith("s3cr3t")
    assert log_secrets.leaks(["INFO a short value"], {"short"}) == []
