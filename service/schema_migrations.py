"""Running Alembic from the `pmsc db` commands and the tests, with the owner connection."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from service.config import Settings
from service.database import make_engine
from tenants.database_roles import ensure_app_role

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str, app_role: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    # row-level security policies name the zone role, which is derived from the app role
    config.attributes["app_role"] = app_role
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the schema, then (on PostgreSQL) give the app role its grants."""
    command.upgrade(alembic_config(settings.admin_database_url, settings.db_app_role), revision)
    grant_app_role(settings)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.admin_database_url, settings.db_app_role), revision)


def grant_app_role(settings: Settings) -> None:
    """Create the app role if missing and grant it data access, never ownership."""
    if not settings.admin_database_url.startswith("postgresql"):
        return
    app_url = make_url(settings.database_url)
    password = app_url.password if app_url.username == settings.db_app_role else None
    engine = make_engine(settings.admin_database_url)
    try:
        with engine.begin() as connection:
            ensure_app_role(connection, settings.db_app_role, str(password) if password else None)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
