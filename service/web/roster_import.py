"""Roster import from Excel: upload, a preview naming each bad row's fields, then all of it or
nothing. The preview creates the members in the request's transaction and rolls it back, so
it checks exactly what the import will do; the import re-checks every row before it commits."""

from __future__ import annotations

import json
import uuid

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from service.auth.current import require
from service.auth.permissions import Action
from service.database import db
from service.errors import Invalid
from service.members import service as members
from service.members.schemas import MemberSchema
from service.web.forms import field_errors, form_input
from service.web.members import REQUIRED
from service.web.roster_excel import (
    COLUMNS,
    FIELDS,
    ImportRow,
    UnreadableWorkbook,
    read_roster,
    shown_value,
)

bp = Blueprint("roster_import", __name__, url_prefix="/t/<tenant_slug>/members/import")


def check_rows(
    session: Session, *, tenant_id: uuid.UUID, rows: list[ImportRow]
) -> dict[int, dict[str, list[str]]]:
    """Create every row's member in `session`; each refused row's field errors by row number.
    The caller commits (none refused, import) or rolls back (preview, or any refused)."""
    errors: dict[int, dict[str, list[str]]] = {}
    for row in rows:
        try:
            fields = MemberSchema().load(form_input(row.values, FIELDS, REQUIRED))
            members.create_member(session, tenant_id=tenant_id, fields=fields)
        except (ma.ValidationError, Invalid) as error:
            errors[row.number] = field_errors(error)
    return errors


@bp.get("")
@require(Action.MEMBERS_WRITE)
def upload():
    return _page(None, {}, problem=None, status=200)


@bp.post("")
@require(Action.MEMBERS_WRITE)
def preview_or_import():
    """`step=preview` with a file: check it and show it; `step=import` with the previewed rows:
    create them all, or none if any is refused."""
    if request.form.get("step") == "import":
        rows = _rows_from_preview(request.form.get("rows", "[]"))
    else:
        upload = request.files.get("file")
        try:
            rows = read_roster(upload.read() if upload else b"")
        except UnreadableWorkbook as error:
            return _page(None, {}, problem=str(error), status=422)
    errors = check_rows(db.session, tenant_id=g.tenant.id, rows=rows)
    if request.form.get("step") == "import" and rows and not errors:
        flash(_("%(n)s members imported.", n=len(rows)))
        return redirect(url_for("branch_members.member_list", tenant_slug=g.tenant.slug), 303)
    db.session.rollback()  # a preview writes nothing
    status = 422 if errors or not rows else 200
    problem = None if rows else _("The workbook has no members in it.")
    return _page(rows, errors, problem=problem, status=status)


def _page(rows, errors, *, problem: str | None, status: int):
    payload = json.dumps(
        [{"number": r.number, "values": r.values} for r in rows or []], ensure_ascii=False
    )
    page = render_template(
        "members/import.html",
        rows=rows,
        errors=errors,
        columns=COLUMNS,
        headers={field: header for field, header, _choices in COLUMNS},
        shown_value=shown_value,
        problem=problem,
        payload=payload,
    )
    return page, status


def _rows_from_preview(text: str) -> list[ImportRow]:
    try:
        items = json.loads(text)
        return [
            ImportRow(int(item["number"]), {str(k): str(v) for k, v in item["values"].items()})
            for item in items
        ]
    except (ValueError, TypeError, KeyError):
        return []
