"""Jobs that keep the service tidy."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from workers.jobs import job


@job("sessions.purge", queue="default", scope="zone")
def purge_sessions(session: Session, *, tenant_id: None = None) -> int:
    """Delete the browser sessions that can no longer be used; the number deleted."""
    from service.access.service import purge_ended_sessions

    idle = current_app.config["PMSC_SETTINGS"].session_idle
    return purge_ended_sessions(session, idle=idle)
