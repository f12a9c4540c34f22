"""`Settings.from_env`: strict parsing of `PMSC_*` variables, from explicit dicts only.

A bad value is refused with a message naming the variable; production demands its secrets and
never runs the development login; development generates its secrets into the instance folder
once (even when several processes start together) and reuses them; no secret shows in a repr.
The console script turns a configuration error into one line and exit status 2.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from service.config import ConfigError, Settings
from tests.conftest import DATA_KEY, SECRET_KEY

PRODUCTION = {
    "PMSC_ENV": "production",
    "PMSC_SECRET_KEY": SECRET_KEY,
    "PMSC_DATA_KEY": DATA_KEY,
    "PMSC_DATABASE_URL": "postgresql://pmsc_app:app-password@db.internal:5432/pmsc",
}


@pytest.fixture
def parse(tmp_path):
    """`parse(PMSC_X=...)`: settings from exactly these variables, instance under tmp_path."""

    def parse(**env: str) -> Settings:
        return Settings.from_env({"PMSC_INSTANCE_PATH": str(tmp_path / "instance"), **env})

    return parse


def refused(parse, variable: str, **env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(**env)
    message = str(caught.value)
    assert variable in message
    return message


# --- environment and secrets ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["staging", "Production", "prod"])
def test_unknown_environment_is_refused_naming_the_variable(parse, value):
    message = refused(parse, "PMSC_ENV", PMSC_ENV=value)
    assert repr(value) in message


def test_defaults_are_development_with_an_sqlite_file_in_the_instance_folder(parse, tmp_path):
    settings = parse()
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'pmsc.sqlite3'}"
    assert settings.admin_database_url == settings.database_url
    assert settings.redis_url is None
    assert settings.dev_login is False


@pytest.mark.parametrize("missing", ["PMSC_SECRET_KEY", "PMSC_DATA_KEY"])
def test_production_without_a_secret_is_refused_and_generates_nothing(parse, tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    message = refused(parse, missing, **env)
    assert "production" in message
    assert not (tmp_path / "instance").exists()


def test_production_with_its_secrets_is_accepted(parse):
    settings = parse(**PRODUCTION)
    assert settings.is_production
    assert settings.secret_key == SECRET_KEY
    assert settings.data_keys == (DATA_KEY,)


def test_short_secret_key_is_refused(parse):
    refused(parse, "PMSC_SECRET_KEY", PMSC_SECRET_KEY="too-short")


@pytest.mark.parametrize("env", ["production", "testing"])
def test_development_login_outside_development_is_refused(parse, env):
    message = refused(
        parse, "PMSC_DEV_LOGIN", **{**PRODUCTION, "PMSC_ENV": env}, PMSC_DEV_LOGIN="1"
    )
    assert env in message


def test_development_login_is_allowed_in_development_only_when_asked(parse):
    assert parse(PMSC_ENV="development", PMSC_DEV_LOGIN="1").dev_login is True
    assert parse(PMSC_ENV="development", PMSC_DEV_LOGIN="0").dev_login is False


def test_flag_that_is_not_a_boolean_is_refused(parse):
    refused(parse, "PMSC_DEV_LOGIN", PMSC_DEV_LOGIN="maybe")


@pytest.mark.parametrize(
    ("keys", "which"),
    [
        ("not-a-fernet-key", "#1"),
        ("c2hvcnQ=", "#1"),  # base64, but 5 bytes
        ("ü" * 44, "#1"),
        (f"{DATA_KEY},{DATA_KEY[:-4]}", "#2"),
    ],
    ids=["word", "short", "non-ascii", "second-of-two"],
)
def test_malformed_data_key_is_refused_naming_which_one(parse, keys, which):
    message = refused(parse, "PMSC_DATA_KEY", PMSC_ENV="testing", PMSC_DATA_KEY=keys)
    assert which in message
    assert keys not in message  # the key itself is never echoed


def test_several_data_keys_are_kept_in_order_first_one_encrypts(parse):
    new = Fernet.generate_key().decode()
    settings = parse(PMSC_DATA_KEY=f" {new} , {DATA_KEY} ,")
    assert settings.data_keys == (new, DATA_KEY)


# --- identity provider ------------------------------------------------------------------------


def test_plain_http_issuer_is_refused_in_production(parse):
    refused(
        parse,
        "PMSC_OIDC_ISSUER",
        **PRODUCTION,
        PMSC_OIDC_ISSUER="http://idp.zone.example",
        PMSC_OIDC_AUDIENCE="pmsc",
    )


def test_plain_http_issuer_is_accepted_in_development_without_trailing_slash(parse):
    settings = parse(PMSC_OIDC_ISSUER="http://127.0.0.1:8080/", PMSC_OIDC_AUDIENCE="pmsc")
    assert settings.oidc_issuer == "http://127.0.0.1:8080"


def test_issuer_that_is_not_a_url_is_refused(parse):
    refused(parse, "PMSC_OIDC_ISSUER", PMSC_OIDC_ISSUER="idp.zone", PMSC_OIDC_AUDIENCE="pmsc")


def test_issuer_without_audience_is_refused(parse):
    refused(parse, "PMSC_OIDC_AUDIENCE", PMSC_OIDC_ISSUER="https://idp.zone.example")


@pytest.mark.parametrize("algorithms", ["HS256", "RS256,none", "RS256, XYZ512"])
def test_algorithm_outside_the_allow_list_is_refused(parse, algorithms):
    refused(parse, "PMSC_OIDC_ALGORITHMS", PMSC_OIDC_ALGORITHMS=algorithms)


def test_algorithms_default_to_asymmetric_ones_and_are_trimmed(parse):
    assert parse().oidc_algorithms == ("RS256", "ES256", "PS256")
    assert parse(PMSC_OIDC_ALGORITHMS=" ES384 , RS512 ").oidc_algorithms == ("ES384", "RS512")


# --- databases and redis ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_are_normalised_to_psycopg(parse, scheme):
    settings = parse(
        PMSC_DATABASE_URL=f"{scheme}://app:pw@db:5432/pmsc",
        PMSC_ADMIN_DATABASE_URL=f"{scheme}://owner:pw@db:5432/pmsc",
    )
    assert settings.database_url == "postgresql+psycopg://app:pw@db:5432/pmsc"
    assert settings.admin_database_url == "postgresql+psycopg://owner:pw@db:5432/pmsc"


def test_admin_database_url_defaults_to_the_app_url(parse):
    settings = parse(PMSC_DATABASE_URL="postgres://app@db/pmsc")
    assert settings.admin_database_url == "postgresql+psycopg://app@db/pmsc"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PMSC_DATABASE_URL", "mysql://db/pmsc"),
        ("PMSC_ADMIN_DATABASE_URL", "db.internal:5432"),
        ("PMSC_DATABASE_URL", "postgresql://app@db:five-four-three-two/pmsc"),
        ("PMSC_REDIS_URL", "http://127.0.0.1:6379"),
        ("PMSC_REDIS_URL", "redis://127.0.0.1:six-three-seven-nine/0"),
        ("PMSC_DB_APP_ROLE", "Robert'); DROP TABLE members;--"),
        ("PMSC_MAX_BODY_BYTES", "lots"),
        ("PMSC_MAX_BODY_BYTES", "10"),
    ],
)
def test_malformed_value_is_refused_naming_the_variable(parse, variable, value):
    refused(parse, variable, **{variable: value})


# --- development secrets in the instance folder -----------------------------------------------


def test_development_generates_secrets_once_into_the_instance_folder_and_reuses_them(
    parse, tmp_path
):
    first = parse(PMSC_ENV="development")
    instance = tmp_path / "instance"
    for name in ("secret-key", "data-key"):
        path = instance / name
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    Fernet(first.data_keys[0].encode())  # a usable key

    again = parse(PMSC_ENV="development")
    assert (again.secret_key, again.data_keys) == (first.secret_key, first.data_keys)
    assert sorted(p.name for p in instance.iterdir()) == ["data-key", "secret-key"]

    elsewhere = Settings.from_env({"PMSC_INSTANCE_PATH": str(tmp_path / "other")})
    assert elsewhere.secret_key != first.secret_key
    assert elsewhere.data_keys != first.data_keys


def test_processes_starting_together_agree_on_the_generated_data_key(tmp_path):
    """Web and worker starting at once must not each write a key of their own: the loser's
    records would be encrypted with a key that is lost on the next start."""
    for attempt in range(5):
        instance = tmp_path / f"instance-{attempt}"
        barrier = threading.Barrier(8)
        seen: list[tuple[str, tuple[str, ...]]] = []

        def start(
            instance: Path = instance, barrier: threading.Barrier = barrier, seen: list = seen
        ) -> None:
            barrier.wait()
            settings = Settings.from_env({"PMSC_INSTANCE_PATH": str(instance)})
            seen.append((settings.secret_key, settings.data_keys))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 8
        assert len(set(seen)) == 1
        on_disk = (instance / "data-key").read_text().strip()
        assert seen[0][1] == (on_disk,)


def test_given_secrets_are_used_and_nothing_is_written(parse, tmp_path):
    settings = parse(PMSC_ENV="development", PMSC_SECRET_KEY=SECRET_KEY, PMSC_DATA_KEY=DATA_KEY)
    assert settings.secret_key == SECRET_KEY
    assert not (tmp_path / "instance").exists()


def test_secrets_never_appear_in_the_repr(parse):
    settings = parse(
        **PRODUCTION,
        PMSC_ADMIN_DATABASE_URL="postgresql://owner:owner/pass#word@db.internal/pmsc",
        PMSC_REDIS_URL="redis://:redis-password@cache.internal:6379/0",
    )
    shown = repr(settings)
    for secret in (
        SECRET_KEY,
        DATA_KEY,
        "app-password",
        "owner/pass#word",
        "pass#word",
        "redis-password",
    ):
        assert secret not in shown
    # still useful: where it connects, and as whom
    assert "pmsc_app" in shown
    assert "db.internal" in shown
    assert "cache.internal" in shown
    assert str(settings) == shown


# --- through the console script ---------------------------------------------------------------


def test_console_script_reports_a_bad_setting_in_one_line_with_status_2(tmp_path):
    pmsc = Path(sys.executable).with_name("pmsc")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONUTF8": "1",
        "PMSC_ENV": "staging",
        "PMSC_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    done = subprocess.run(
        [str(pmsc), "db", "current"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "PMSC_ENV" in lines[0]
    assert "staging" in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
