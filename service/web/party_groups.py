"""A branch's party groups: the list with member counts, and the forms that create, rename and
delete one. Same services, permissions and version check as `/api/v1/t/<slug>/party-groups`:
members see, admins write; a group with members is not deleted (the domain says why)."""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.errors import Conflict, Invalid
from service.members import service
from service.members.models import PartyGroup
from service.members.schemas import PartyGroupSchema
from service.web.forms import (
    changed_since_opened,
    field_errors,
    form_input,
    form_page,
    stale_errors,
    stored,
    translated,
)

bp = Blueprint("party_group_pages", __name__, url_prefix="/t/<tenant_slug>/party-groups")

FIELDS = ("name", "notes")
REQUIRED = ("name",)


@bp.get("")
@require(Action.PARTY_GROUPS_READ)
def group_list():
    """The branch's party groups by name, each with how many members it has."""
    return render_template(
        "party_groups/list.html",
        groups=service.list_party_groups(db.session, tenant_id=g.tenant.id),
        can_write=allowed(Action.PARTY_GROUPS_WRITE),
    )


@bp.route("/new", methods=["GET", "POST"])
@require(Action.PARTY_GROUPS_WRITE)
def group_create():
    """Create a party group; a name the branch already uses is refused on the field."""
    values: dict = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_input(request.form, FIELDS, REQUIRED)
        try:
            fields = PartyGroupSchema().load(values)
            group = service.save_party_group(
                db.session, tenant_id=g.tenant.id, group=None, fields=fields
            )
        except (ma.ValidationError, Invalid) as error:
            errors = field_errors(error)
        except Conflict as error:  # the name is taken
            return _form(values, {"name": [translated(error.message)]}, group=None, status=409)
        else:
            flash(_("Party group %(name)s created.", name=group.name))
            return redirect(_list_url(), 303)
    return _form(values, errors, group=None)


@bp.route("/<uuid:group_id>/edit", methods=["GET", "POST"])
@require(Action.PARTY_GROUPS_WRITE)
def group_edit(group_id: uuid.UUID):
    """Rename a party group or change its notes, unless someone saved it since the form
    was opened."""
    group = service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id)
    if request.method == "GET":
        return _form(stored(group, FIELDS), {}, group=group)
    values = form_input(request.form, FIELDS, REQUIRED)
    if changed_since_opened(group):
        return _form(values, stale_errors(), group=group, status=409)
    try:
        changes = PartyGroupSchema().load(values)
        service.save_party_group(db.session, tenant_id=g.tenant.id, group=group, fields=changes)
    except (ma.ValidationError, Invalid) as error:
        return _form(values, field_errors(error), group=group)
    except Conflict as error:
        return _form(values, {"name": [translated(error.message)]}, group=group, status=409)
    flash(_("Changes to party group %(name)s saved.", name=group.name))
    return redirect(_list_url(), 303)


@bp.post("/<uuid:group_id>/delete")
@require(Action.PARTY_GROUPS_WRITE)
def group_delete(group_id: uuid.UUID):
    """Delete an empty party group (version-checked); one with members stays, with the
    domain's reason shown on its form."""
    group = service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id)
    values = stored(group, FIELDS)
    if changed_since_opened(group):
        return _form(values, stale_errors(), group=group, status=409)
    name = group.name
    try:
        service.delete_party_group(db.session, group=group)
    except Conflict as error:
        return _form(values, {"_delete": [translated(error.message)]}, group=group, status=409)
    flash(_("Party group %(name)s deleted.", name=name))
    return redirect(_list_url(), 303)


def _form(values: dict, errors: dict, *, group: PartyGroup | None, status: int | None = None):
    return form_page("party_groups/form.html", values, errors, status=status, group=group)


def _list_url() -> str:
    return url_for("party_group_pages.group_list", tenant_slug=g.tenant.slug)
