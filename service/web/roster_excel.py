"""The roster as an Excel workbook, and back: the columns an export writes are the columns an
import reads (headers in either language, or the field names; choices by their label in either
language, or their code)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook, load_workbook

from service.members.models import Category, Education, Gender, PartyStatus
from service.web.labels import label

MAX_IMPORT_ROWS = 2000

# field, header, choices (an enumeration) or None
COLUMNS: tuple[tuple[str, object, type[enum.Enum] | None], ...] = (
    ("name", _l("Name"), None),
    ("gender", _l("Gender"), Gender),
    ("birth_date", _l("Date of birth"), None),
    ("ethnicity", _l("Ethnicity"), None),
    ("education", _l("Education"), Education),
    ("phone", _l("Phone"), None),
    ("id_card_number", _l("ID-card number"), None),
    ("category", _l("Category"), Category),
    ("party_status", _l("Party status"), PartyStatus),
    ("joined_party_date", _l("Joined the party"), None),
    ("full_membership_date", _l("Full membership"), None),
    ("position", _l("Position"), None),
    ("notes", _l("Notes"), None),
)
FIELDS = tuple(field for field, _header, _choices in COLUMNS)


class UnreadableWorkbook(ValueError):
    """The upload is not an .xlsx workbook this import can read; the message says why."""


@dataclass(frozen=True)
class ImportRow:
    number: int  # the row's number in the sheet, as Excel shows it
    values: dict[str, str]  # field → text, as the schema takes it (choices as codes)


def roster_workbook(members: Iterable) -> bytes:
    """The members (as the caller may see them) as an .xlsx file, headers in this language."""
    book = Workbook()
    sheet = book.active
    sheet.title = str(_l("Members"))
    sheet.append([str(header) for _field, header, _choices in COLUMNS])
    for member in members:
        sheet.append([_cell(getattr(member, field)) for field in FIELDS])
    sheet.freeze_panes = "A2"
    return _saved(book)


def read_roster(data: bytes) -> list[ImportRow]:
    """The rows of an uploaded roster, keyed by field; `UnreadableWorkbook` otherwise."""
    try:
        sheet = load_workbook(BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as error:  # openpyxl raises many kinds for a file that is not xlsx
        raise UnreadableWorkbook(str(_l("The file is not an Excel workbook (.xlsx)."))) from error
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    headers = _header_names()
    fields = [headers.get(str(cell).strip().casefold()) if cell else None for cell in header]
    if "name" not in fields:
        raise UnreadableWorkbook(str(_l("The first row must name the columns, as an export does.")))
    found = []
    for number, row in enumerate(rows, start=2):
        values = {
            field: _text(cell)
            for field, cell in zip(fields, row, strict=False)
            if field is not None and _text(cell)
        }
        if not values:
            continue  # blank lines are not members
        found.append(ImportRow(number, _with_codes(values)))
        if len(found) > MAX_IMPORT_ROWS:
            raise UnreadableWorkbook(
                str(_l("At most %(n)s members can be imported at once.", n=MAX_IMPORT_ROWS))
            )
    return found


def shown_value(field: str, value: str | None) -> str:
    """A row's value as a person reads it in the preview: a choice by its label."""
    choices = next((c for f, _h, c in COLUMNS if f == field), None)
    if choices is None or not value:
        return value or ""
    try:
        return label(choices(value))
    except ValueError:
        return value


def _header_names() -> dict[str, str]:
    """Each column's header in every language, and its field name → the field."""
    names = {}
    for locale in ("zh_CN", "en"):
        with force_locale(locale):
            names.update({str(header).casefold(): field for field, header, _c in COLUMNS})
    names.update({field: field for field in FIELDS})
    return names


def _choice_codes(choices: type[enum.Enum]) -> dict[str, str]:
    codes = {}
    for locale in ("zh_CN", "en"):
        with force_locale(locale):
            codes.update({label(value).casefold(): value.value for value in choices})
    codes.update({value.value: value.value for value in choices})
    return codes


def _with_codes(values: dict[str, str]) -> dict[str, str]:
    out = dict(values)
    for field, _header, choices in COLUMNS:
        if choices is not None and field in out:
            # an unknown label stays as typed: the schema names it as a bad choice
            out[field] = _choice_codes(choices).get(out[field].casefold(), out[field])
    return out


def _cell(value):
    if isinstance(value, enum.Enum):
        return label(value)
    return value


def _text(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _saved(book: Workbook) -> bytes:
    out = BytesIO()
    book.save(out)
    return out.getvalue()
