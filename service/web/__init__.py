"""Server-rendered pages, in the person's language: the landing page, the space chooser, each
branch's space (`/t/<slug>/...`) and the committee's zone view (`/zone/...`)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import format_datetime

ZONE_TIMEZONE = "Asia/Shanghai"  # the zone's clock: pages show times as its people read them


def init_app(app: Flask) -> None:
    """Languages, the templates' helpers, and every page blueprint."""
    from service.auth.current import allowed
    from service.auth.permissions import Action
    from service.rollups.ranking import shown
    from service.web import access as access_pages
    from service.web import (
        activity_forms,
        branch_zone_activities,
        exports,
        i18n,
        party_groups,
        roster_import,
        zone_activities,
        zone_branches,
    )
    from service.web import audit as audit_pages
    from service.web.activities import bp as activities_bp
    from service.web.labels import label, labels
    from service.web.members import bp as members_bp
    from service.web.pages import bp as pages_bp
    from service.web.zone import bp as zone_bp
    from tenants.registry import TenantStatus

    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", ZONE_TIMEZONE)
    i18n.init_app(app)
    app.jinja_env.globals.update(label=label, shown=shown, TenantStatus=TenantStatus)
    # the navigation offers only what the caller's roles allow (the pages' own permission table)
    app.jinja_env.globals.update(allowed=allowed, Action=Action)
    app.jinja_env.filters.update(localtime=localtime, labels=labels)
    for blueprint in (
        pages_bp,
        roster_import.bp,  # before the members' `/<id>` pages
        members_bp,
        activities_bp,
        activity_forms.bp,
        branch_zone_activities.bp,
        zone_bp,
        zone_activities.bp,
        exports.zone_bp,
        exports.branch_bp,
        party_groups.bp,
        access_pages.bp,
        audit_pages.branch_bp,
        audit_pages.zone_bp,
        zone_branches.bp,
    ):
        app.register_blueprint(blueprint)


def localtime(value: datetime | None) -> str:
    """A UTC timestamp as the zone's local date and time (e.g. 2026-03-05 14:30)."""
    if value is None:
        return ""
    return format_datetime(value, "yyyy-MM-dd HH:mm")
