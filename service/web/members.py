"""A branch's roster pages: the list with search and filters, a member's page, and the create
and edit forms with field-level errors. Same services and permission checks as the API."""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.errors import Invalid
from service.members import service
from service.members.models import Category, Education, Gender, PartyStatus
from service.members.schemas import MemberSchema
from service.web.forms import (
    changed_since_opened,
    enum_arg,
    field_errors,
    form_input,
    form_page,
    page_arg,
    page_count,
    stale_errors,
    stored,
)

bp = Blueprint("branch_members", __name__, url_prefix="/t/<tenant_slug>/members")

PAGE_SIZE = 50
# every field the API's schema takes, in its order, and those it requires
FIELDS = tuple(MemberSchema().load_fields)
REQUIRED = tuple(name for name, field in MemberSchema().load_fields.items() if field.required)
CHOICES = {
    "gender": list(Gender),
    "education": list(Education),
    "category": list(Category),
    "party_status": list(PartyStatus),
}


@bp.get("")
@require(Action.MEMBERS_READ)
def member_list():
    """Search by name, filter by category and party status, 50 a page."""
    page = page_arg()
    filters = service.MemberFilters(
        category=enum_arg(Category, "category"),
        party_status=enum_arg(PartyStatus, "party_status"),
        name=(request.args.get("name") or "").strip()[:50] or None,
    )
    members, total = service.list_members(
        db.session,
        tenant_id=g.tenant.id,
        filters=filters,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    reveal = allowed(Action.MEMBERS_REVEAL)
    return render_template(
        "members/list.html",
        members=[service.present(m, reveal=reveal) for m in members],
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        filters=filters,
        choices=CHOICES,
        can_write=allowed(Action.MEMBERS_WRITE),
    )


@bp.get("/<uuid:member_id>")
@require(Action.MEMBERS_READ)
def member_page(member_id: uuid.UUID):
    member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
    return render_template(
        "members/page.html",
        member=service.present(member, reveal=allowed(Action.MEMBERS_REVEAL)),
        group=_group_name(member.party_group_id),
        can_write=allowed(Action.MEMBERS_WRITE),
    )


@bp.route("/new", methods=["GET", "POST"])
@require(Action.MEMBERS_WRITE)
def member_create():
    values: dict = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_input(request.form, FIELDS, REQUIRED)
        try:
            fields = MemberSchema().load(values)
            member = service.create_member(db.session, tenant_id=g.tenant.id, fields=fields)
        except (ma.ValidationError, Invalid) as error:
            errors = field_errors(error)
        else:
            flash(_("Member %(name)s added.", name=member.name))
            return redirect(_page_url(member.id), 303)
    return _form(values, errors, member=None)


@bp.route("/<uuid:member_id>/edit", methods=["GET", "POST"])
@require(Action.MEMBERS_WRITE)
def member_edit(member_id: uuid.UUID):
    member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
    errors: dict[str, list[str]] = {}
    if request.method == "GET":
        return _form(stored(member, FIELDS), errors, member=member)
    values = form_input(request.form, FIELDS, REQUIRED)
    if changed_since_opened(member):
        return _form(values, stale_errors(), member=member, status=409)
    try:
        changes = MemberSchema().load(values)
        service.update_member(db.session, member=member, changes=changes)
    except (ma.ValidationError, Invalid) as error:
        errors = field_errors(error)
    else:
        flash(_("Changes to %(name)s saved.", name=member.name))
        return redirect(_page_url(member.id), 303)
    return _form(values, errors, member=member)


@bp.route("/<uuid:member_id>/delete", methods=["GET", "POST"])
@require(Action.MEMBERS_WRITE)
def member_delete(member_id: uuid.UUID):
    """Ask first, naming the member (GET); remove them on the confirmation's POST. Their
    attendance and zone registrations go with them (the database cascades)."""
    member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
    stale = request.method == "POST" and changed_since_opened(member)
    if request.method == "GET" or stale:
        page = render_template("members/delete.html", member=member, stale=stale)
        return page, 409 if stale else 200
    name = member.name
    service.delete_member(db.session, member=member)
    flash(_("Member %(name)s deleted.", name=name))
    return redirect(url_for("branch_members.member_list", tenant_slug=g.tenant.slug), 303)


def _form(values: dict, errors: dict, *, member, status: int | None = None):
    groups = service.list_party_groups(db.session, tenant_id=g.tenant.id)
    return form_page(
        "members/form.html",
        values,
        errors,
        status=status,
        member=member,
        choices=CHOICES,
        groups=[group for group, _count in groups],
    )


def _group_name(group_id: uuid.UUID | None) -> str | None:
    if group_id is None:
        return None
    return service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id).name


def _page_url(member_id: uuid.UUID) -> str:
    return url_for("branch_members.member_page", tenant_slug=g.tenant.slug, member_id=member_id)
