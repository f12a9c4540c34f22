"""`/api/v1/t/<slug>/members` and `/api/v1/t/<slug>/party-groups`: translation only."""

from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from service.auth.current import allowed, require
from service.auth.permissions import Action
from service.database import db
from service.etags import check_etag, set_etag
from service.members import service
from service.members.schemas import MemberQuerySchema, MemberSchema, PartyGroupSchema
from service.schema_base import page_offset

blp = Blueprint(
    "members",
    __name__,
    url_prefix="/api/v1/t/<tenant_slug>",
    description="The branch's roster and its party groups.",
)


def _shown(member, reveal: bool | None = None):
    if reveal is None:
        reveal = allowed(Action.MEMBERS_REVEAL)
    return service.present(member, reveal=reveal)


@blp.route("/members")
class Members(MethodView):
    @require(Action.MEMBERS_READ)
    @blp.arguments(MemberQuerySchema(), location="query")
    @blp.response(200, MemberSchema(many=True))
    @blp.paginate()
    def get(self, filters, pagination_parameters):
        """The branch's members, by name; filter by category, party status, name, party group."""
        members, total = service.list_members(
            db.session,
            tenant_id=g.tenant.id,
            filters=service.MemberFilters(**filters),
            offset=page_offset(pagination_parameters),
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        reveal = allowed(Action.MEMBERS_REVEAL)  # once per page, not once per member
        return [_shown(m, reveal) for m in members]

    @require(Action.MEMBERS_WRITE)
    @blp.etag
    @blp.arguments(MemberSchema())
    @blp.response(201, MemberSchema)
    def post(self, fields):
        """Add a member to the roster."""
        member = service.create_member(db.session, tenant_id=g.tenant.id, fields=fields)
        set_etag(blp, member)
        return member


@blp.route("/members/<uuid:member_id>")
class MemberById(MethodView):
    @require(Action.MEMBERS_READ)
    @blp.etag
    @blp.response(200, MemberSchema)
    def get(self, member_id: uuid.UUID):
        """One member."""
        member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
        set_etag(blp, member)
        return _shown(member)

    @require(Action.MEMBERS_WRITE)
    @blp.etag
    @blp.arguments(MemberSchema(partial=True))
    @blp.response(200, MemberSchema)
    def patch(self, changes, member_id: uuid.UUID):
        """Change a member; send the ETag you read in `If-Match`."""
        member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
        check_etag(blp, member)
        service.update_member(db.session, member=member, changes=changes)
        set_etag(blp, member)
        return member

    @require(Action.MEMBERS_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, member_id: uuid.UUID):
        """Remove a member; send the ETag you read in `If-Match`."""
        member = service.get_member(db.session, tenant_id=g.tenant.id, member_id=member_id)
        check_etag(blp, member)
        service.delete_member(db.session, member=member)


def _group_view(group, member_count: int | None = None):
    group.member_count = member_count
    return group


@blp.route("/party-groups")
class PartyGroups(MethodView):
    @require(Action.PARTY_GROUPS_READ)
    @blp.response(200, PartyGroupSchema(many=True))
    def get(self):
        """The branch's party groups with their member counts."""
        return [
            _group_view(g_, n)
            for g_, n in service.list_party_groups(db.session, tenant_id=g.tenant.id)
        ]

    @require(Action.PARTY_GROUPS_WRITE)
    @blp.etag
    @blp.arguments(PartyGroupSchema())
    @blp.response(201, PartyGroupSchema)
    def post(self, fields):
        """Create a party group."""
        group = service.save_party_group(
            db.session, tenant_id=g.tenant.id, group=None, fields=fields
        )
        set_etag(blp, group)
        return _group_view(group, 0)


@blp.route("/party-groups/<uuid:group_id>")
class PartyGroupById(MethodView):
    @require(Action.PARTY_GROUPS_READ)
    @blp.etag
    @blp.response(200, PartyGroupSchema)
    def get(self, group_id: uuid.UUID):
        """One party group."""
        group = service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id)
        set_etag(blp, group)
        return group

    @require(Action.PARTY_GROUPS_WRITE)
    @blp.etag
    @blp.arguments(PartyGroupSchema(partial=True))
    @blp.response(200, PartyGroupSchema)
    def patch(self, changes, group_id: uuid.UUID):
        """Rename a party group or change its notes; send `If-Match`."""
        group = service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id)
        check_etag(blp, group)
        service.save_party_group(db.session, tenant_id=g.tenant.id, group=group, fields=changes)
        set_etag(blp, group)
        return group

    @require(Action.PARTY_GROUPS_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, group_id: uuid.UUID):
        """Delete an empty party group; send `If-Match`."""
        group = service.get_party_group(db.session, tenant_id=g.tenant.id, group_id=group_id)
        check_etag(blp, group)
        service.delete_party_group(db.session, group=group)
