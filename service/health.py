"""`/healthz` (the process answers) and `/readyz` (the database, and Redis when configured)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from service.database import db
from workers.connection import redis_ping

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready"; the kind goes to the log
        log.warning("readiness: database unavailable: %s", type(error).__name__)
        checks["database"] = "unavailable"
    redis_url = current_app.config["PMSC_SETTINGS"].redis_url
    if redis_url:
        checks["redis"] = "ok" if redis_ping(redis_url) else "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
