"""The zone's register of branches as pages: the list (every status), registering a branch and
editing one, its status (active, suspended, archived) changed only with a confirmation. Same
schema, services, version guard and permission table as `/api/v1/zone/tenants`: committee
staff see the register, committee admins change it."""

from __future__ import annotations

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import abort

from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.branches.schemas import BranchSchema
from service.database import db
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
    with_int,
)
from tenants import provisioning
from tenants.errors import SlugTaken, TenantNotFound
from tenants.registry import EnterpriseType, OrganizationType, Tenant, TenantStatus

bp = Blueprint("zone_branch_pages", __name__, url_prefix="/zone/branches")

PAGE_SIZE = 50
# what the register may change about a branch (its status too); a new one also names its slug
EDIT_FIELDS = provisioning.MUTABLE_FIELDS
CREATE_FIELDS = ("slug", *(name for name in EDIT_FIELDS if name != "status"))
ORGANIZATION_TYPES = {
    OrganizationType.BRANCH: _l("Party branch"),
    OrganizationType.GENERAL_BRANCH: _l("General Party branch"),
    OrganizationType.COMMITTEE: _l("Party committee"),
}
CHOICES = {
    "enterprise_type": list(EnterpriseType),
    "organization_type": list(OrganizationType),
    "status": list(TenantStatus),
}
# the schema's messages these forms can meet, for the catalogues (see forms.KNOWN_MESSAGES)
FORM_MESSAGES = (
    _l("A slug is 3 to 40 characters of a-z, 0-9 and '-', not starting or ending with '-'."),
    _l("Length must be between 1 and 120."),
    _l("Length must be between 1 and 200."),
    _l("Length must be between 1 and 80."),
    _l("Must be greater than or equal to 0 and less than or equal to 1000000."),
    _l("Must be one of: private, foreign-funded, joint-venture, other."),
    _l("Must be one of: branch, general-branch, committee."),
    _l("Must be one of: active, suspended, archived."),
)


@bp.get("")
@require(Action.TENANTS_READ)
def branch_list():
    """Every registered branch by slug (archived ones too), filtered by status."""
    page = page_arg()
    status = enum_arg(TenantStatus, "status")
    tenants, total = provisioning.list_tenants(
        db.session, status=status, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return render_template(
        "zone_branches/list.html",
        zone_view=True,
        branches=tenants,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        status=status,
        choices=CHOICES,
        organization_types=ORGANIZATION_TYPES,
        can_write=allowed(Action.TENANTS_WRITE),
    )


@bp.route("/new", methods=["GET", "POST"])
@require(Action.TENANTS_WRITE)
def branch_create():
    """Register a branch: its space exists at once, active."""
    values: dict = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = form_input(request.form, CREATE_FIELDS, CREATE_FIELDS)
        try:
            fields = BranchSchema().load(with_int(values, "employee_count"))
            tenant = provisioning.create_tenant(db.session, **fields)
        except ma.ValidationError as error:
            errors = field_errors(error)
        except SlugTaken:
            return _form(values, {"slug": [_("This slug is already taken.")]}, None, 409)
        else:
            flash(_("Branch %(name)s registered.", name=tenant.name))
            return redirect(url_for("zone_branch_pages.branch_list"), 303)
    return _form(values, errors, None)


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@require(Action.TENANTS_WRITE)
def branch_edit(slug: str):
    """Change a branch's details or status, unless someone saved it since the form was
    opened; a change of status needs its box ticked."""
    try:
        tenant = provisioning.get_tenant(db.session, slug=slug)
    except TenantNotFound:
        abort(404, message=_("No branch %(slug)s.", slug=slug))
    if request.method == "GET":
        return _form(stored(tenant, EDIT_FIELDS), {}, tenant)
    values = form_input(request.form, EDIT_FIELDS, EDIT_FIELDS)
    if changed_since_opened(tenant):
        return _form(values, stale_errors(), tenant, 409)
    try:
        # the whole record, validated as registering it is (the slug stays as it is)
        fields = BranchSchema().load({**with_int(values, "employee_count"), "slug": tenant.slug})
    except ma.ValidationError as error:
        return _form(values, field_errors(error), tenant)
    changes = {k: v for k, v in fields.items() if k != "slug"}
    if changes["status"] != tenant.status and request.form.get("confirm_status") != "yes":
        problem = _("Tick the box to confirm the change of status.")
        return _form(values, {"confirm_status": [problem]}, tenant)
    provisioning.update_tenant(db.session, tenant=tenant, changes=changes)
    flash(_("Changes to %(name)s saved.", name=tenant.name))
    return redirect(url_for("zone_branch_pages.branch_list"), 303)


def _form(values: dict, errors: dict, tenant: Tenant | None, status: int | None = None):
    return form_page(
        "zone_branches/form.html",
        values,
        errors,
        status=status,
        zone_view=True,
        tenant=tenant,
        choices=CHOICES,
        organization_types=ORGANIZATION_TYPES,
    )
