"""Layer 2 of tenant isolation: the database's composite keys, on their own.

The rows here are written with plain SQLAlchemy Core on a connection of the app's engine, so the
ORM hooks of layer 1 never run. On PostgreSQL the transaction sets `pmsc.tenant_id` to the
writing tenant, so row-level security (layer 3) lets the insert through and the FOREIGN KEY is
what refuses it. The metadata checks make sure every tenant-owned table, present or future, keeps
`tenant_id` in its primary key and in its keys to other tenant-owned tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    Table,
    Uuid,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from service.database import db
from service.models import metadata
from tenants.orm import tenant_owned_tables

MEMBERS = metadata.tables["members"]
PARTY_GROUPS = metadata.tables["party_groups"]


@contextmanager
def writing_as(tenant_id: uuid.UUID) -> Iterator[Connection]:
    """A transaction on a plain connection, with RLS (on PostgreSQL) set to `tenant_id`."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT set_config('pmsc.tenant_id', :tenant, true)"),
                {"tenant": str(tenant_id)},
            )
        yield connection


def add_party_group(tenant_id: uuid.UUID) -> uuid.UUID:
    group_id = uuid.uuid4()
    with writing_as(tenant_id) as connection:
        connection.execute(
            insert(PARTY_GROUPS).values(tenant_id=tenant_id, id=group_id, name="一组", version=1)
        )
    return group_id


def add_member(tenant_id: uuid.UUID, party_group_id: uuid.UUID | None) -> uuid.UUID:
    member_id = uuid.uuid4()
    with writing_as(tenant_id) as connection:
        connection.execute(
            insert(MEMBERS).values(
                tenant_id=tenant_id,
                id=member_id,
                name="王芳",
                gender="female",
                category="worker",
                party_group_id=party_group_id,
                version=1,
            )
        )
    return member_id


def members_of(tenant_id: uuid.UUID) -> int:
    with writing_as(tenant_id) as connection:
        return connection.scalar(
            select(func.count()).select_from(MEMBERS).where(MEMBERS.c.tenant_id == tenant_id)
        )


@pytest.fixture
def two_branches(app, make_branch):
    """Branches A and B, each with a party group; yields inside an app context."""
    a, b = make_branch(), make_branch()
    with app.app_context():
        yield (a.id, add_party_group(a.id)), (b.id, add_party_group(b.id))


def test_member_of_branch_a_cannot_join_a_party_group_of_branch_b(two_branches):
    (a, _), (_, b_group) = two_branches
    with pytest.raises(IntegrityError):
        add_member(a, b_group)
    assert members_of(a) == 0


def test_member_of_branch_a_can_join_its_own_party_group(two_branches):
    (a, a_group), _ = two_branches
    member_id = add_member(a, a_group)
    with writing_as(a) as connection:
        row = connection.execute(
            select(MEMBERS.c.party_group_id).where(
                MEMBERS.c.tenant_id == a, MEMBERS.c.id == member_id
            )
        ).one()
    assert row.party_group_id == a_group


def test_member_cannot_be_moved_onto_a_party_group_of_another_branch(two_branches):
    (a, a_group), (_, b_group) = two_branches
    member_id = add_member(a, a_group)
    with pytest.raises(IntegrityError), writing_as(a) as connection:
        connection.execute(
            MEMBERS.update()
            .where(MEMBERS.c.tenant_id == a, MEMBERS.c.id == member_id)
            .values(party_group_id=b_group)
        )


# the shape of the keys, for every tenant-owned table


def key_problems(meta: MetaData) -> list[str]:
    """Why the tenant-owned tables of `meta` break rule 1 of the tenancy invariants."""
    problems = []
    owned = tenant_owned_tables(meta)
    for table in owned:
        primary_key = [c.name for c in table.primary_key.columns]
        if primary_key[:1] != ["tenant_id"] or "id" not in primary_key:
            problems.append(f"{table.name}: primary key {primary_key} is not (tenant_id, id, ...)")
        tenant_id = table.c.get("tenant_id")
        if tenant_id is None or tenant_id.nullable:
            problems.append(f"{table.name}: tenant_id is missing or nullable")
        for constraint in table.foreign_key_constraints:
            if constraint.referred_table not in owned:
                continue
            pairs = {e.parent.name: e.column.name for e in constraint.elements}
            if pairs.get("tenant_id") != "tenant_id":
                problems.append(
                    f"{table.name}: foreign key {sorted(pairs)} to "
                    f"{constraint.referred_table.name} does not include tenant_id"
                )
    return problems


def test_metadata_has_tenant_owned_tables():
    names = {t.name for t in tenant_owned_tables(metadata)}
    assert {"members", "party_groups", "tenant_audit_events"} <= names


def test_every_tenant_owned_table_keys_on_tenant_id():
    assert key_problems(metadata) == []


def test_key_check_catches_a_single_column_key_and_a_tenantless_foreign_key():
    meta = MetaData()
    Table("tenants", meta, Column("id", Uuid, primary_key=True))
    owned = {"info": {"tenant_owned": True}}
    Table(
        "notes",
        meta,
        Column("id", Uuid, primary_key=True),
        Column("tenant_id", Uuid, ForeignKey("tenants.id"), nullable=False),
        **owned,
    )
    Table(
        "comments",
        meta,
        Column("tenant_id", Uuid, primary_key=True),
        Column("id", Uuid, primary_key=True),
        Column("note_id", Uuid),
        ForeignKeyConstraint(["note_id"], ["notes.id"]),
        **owned,
    )
    problems = key_problems(meta)
    assert any(p.startswith("notes: primary key ['id']") for p in problems)
    assert any(p.startswith("comments: foreign key ['note_id']") for p in problems)


def test_database_keys_of_tenant_owned_tables_include_tenant_id(app):
    """The migrated database, not only the models, has the composite keys."""
    with app.app_context():
        inspector = inspect(db.engine)
        owned = {t.name for t in tenant_owned_tables(metadata)}
        for name in owned:
            primary_key = inspector.get_pk_constraint(name)["constrained_columns"]
            assert primary_key[0] == "tenant_id" and "id" in primary_key, name
            for foreign_key in inspector.get_foreign_keys(name):
                if foreign_key["referred_table"] in owned:
                    pairs = dict(
                        zip(
                            foreign_key["constrained_columns"],
                            foreign_key["referred_columns"],
                            strict=True,
                        )
                    )
                    assert pairs.get("tenant_id") == "tenant_id", (name, foreign_key)
