"""Excel exports: the zone's rankings (zone roles) and a branch's roster (its readers; ID-card
numbers and phones masked unless the caller may see them, as in the API)."""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, Response, g, request
from flask_babel import gettext as _
from openpyxl import Workbook

from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.members import service as members
from service.rollups.models import Indicator
from service.web import localtime
from service.web.labels import label
from service.web.roster_excel import roster_workbook
from service.web.zone import ranking_view
from tenants.registry import EnterpriseType

zone_bp = Blueprint("zone_exports", __name__, url_prefix="/zone")
branch_bp = Blueprint("branch_exports", __name__, url_prefix="/t/<tenant_slug>")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROSTER_LIMIT = 100_000


@zone_bp.get("/rankings.xlsx")
@require(Action.RANKINGS_READ)
def rankings_workbook():
    """The rankings table as the page shows it (same filters and order), one row a branch,
    each indicator's score with its numerator, denominator and weight."""
    view = ranking_view(request.args)
    book = Workbook()
    sheet = book.active
    sheet.title = view.period
    header = [_("Rank"), _("Branch"), _("Industry"), _("Enterprise type"), _("Total score")]
    parts = (_("numerator"), _("denominator"), _("weight"))
    for indicator in Indicator:
        name = label(indicator)
        header += [name, *(f"{name}: {part}" for part in parts)]
    sheet.append([*header, _("Computed at")])
    for s in view.standings:
        row = [s.rank, s.name, s.industry, label(EnterpriseType(s.enterprise_type)), s.shown_total]
        for indicator in Indicator:
            figure = s.indicators[indicator]
            score = figure.shown_score if figure.applicable else None
            row += [score, figure.numerator, figure.denominator, float(figure.weight)]
        sheet.append([*row, localtime(s.computed_at)])
    sheet.freeze_panes = "C2"
    return _download(book, f"rankings-{view.period}.xlsx")


@branch_bp.get("/members.xlsx")
@require(Action.MEMBERS_READ)
def roster_export():
    """Every member of the roster, by name, in the columns an import reads."""
    found, _total = members.list_members(
        db.session,
        tenant_id=g.tenant.id,
        filters=members.MemberFilters(),
        offset=0,
        limit=ROSTER_LIMIT,
    )
    reveal = allowed(Action.MEMBERS_REVEAL)
    data = roster_workbook(members.present(m, reveal=reveal) for m in found)
    return _response(data, f"roster-{g.tenant.slug}.xlsx")


def _download(book: Workbook, filename: str) -> Response:
    out = BytesIO()
    book.save(out)
    return _response(out.getvalue(), filename)


def _response(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # personal data: never cached on the way
        },
    )
