"""The pmsc web service. `create_app()` is the only place an app is built."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask

from service.config import Settings


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config` (a `PMSC_*` mapping; default: the process environment)."""
    settings = Settings.from_env(config)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.json.ensure_ascii = False  # Chinese text as text, not \uXXXX escapes
    app.config.update(
        PMSC_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        TESTING=settings.env == "testing",
        API_TITLE="pmsc — Party-masses Service Center",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        OPENAPI_SWAGGER_UI_CONFIG={"persistAuthorization": True},
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # alembic narrates its plugin set-up at INFO; `pmsc db` reports the revision itself
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from service import crypto, http_errors, spaces, web
    from service.auth import current as auth
    from service.auth import signin
    from service.database import db
    from service.docs import bp as docs_bp
    from service.health import bp as health_bp
    from workers import relay

    db.init_app(app, settings.database_url, settings.db_app_role)
    crypto.init_app(app, settings.data_keys)
    auth.init_app(app, settings)
    spaces.init_app(app)
    relay.init_app(app)  # without Redis, recorded jobs run right after their commit

    api = http_errors.Api()
    api.init_app(app)
    http_errors.init_app(app, api)
    _register_api(api)
    app.register_blueprint(health_bp)
    app.register_blueprint(docs_bp)
    signin.init_app(app, settings)
    web.init_app(app)
    if settings.dev_login:
        from service.auth.dev_login import bp as dev_login_bp

        app.register_blueprint(dev_login_bp)
    return app


def _register_api(api) -> None:
    # importing a domain's api registers its models' audit and isolation hooks with it
    import service.audit.recorder  # noqa: F401
    from service.access.api import branch_blp as branch_access_blp
    from service.access.api import zone_blp as zone_access_blp
    from service.activities.api import blp as activities_blp
    from service.activities.api import zone_blp as zone_activities_blp
    from service.audit.api import branch_blp, zone_blp
    from service.auth.api import blp as me_blp
    from service.branches.api import blp as branches_blp
    from service.members.api import blp as members_blp
    from service.rollups.rankings_api import blp as standing_blp
    from service.rollups.rankings_api import zone_blp as zone_rankings_blp
    from service.rollups.schedule_api import blp as meeting_schedule_blp

    for blueprint in (
        me_blp,
        branches_blp,
        zone_access_blp,
        zone_blp,
        members_blp,
        branch_access_blp,
        branch_blp,
        zone_activities_blp,
        activities_blp,
        meeting_schedule_blp,
        zone_rankings_blp,
        standing_blp,
    ):
        api.register_blueprint(blueprint)
