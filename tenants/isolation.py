"""The ORM layer of tenant isolation, and the per-transaction setting row-level security reads.

* Every ORM select, update and delete of a tenant-owned entity gets
  `tenant_id == <current tenant>` added; without a tenant (or zone, for reads) context it raises.
* A flush refuses to write a row of another tenant, or any tenant-owned row outside a tenant
  context.
* Textual SQL (`text()`, whole or as a fragment) through a session is refused in every
  context: its tables cannot be known. Infrastructure SQL runs on `session.connection()`.
* An INSERT of tenant-owned rows names the current tenant on every parameter row; an INSERT …
  SELECT takes the tenant column from a parameter holding the current tenant and reads no
  tenant-owned table.
* The branch list endpoints' count-and-page reads of one tenant-owned table run outside the
  ORM, compiled once (`tenants.table_reads`): the same guarantee by construction, their
  tenant bound from this context.
* At the start of every transaction on PostgreSQL, `pmsc.tenant_id` and `pmsc.scope` are set
  transaction-locally, so a pooled connection can never carry one tenant's setting to another;
  in the zone context the transaction also becomes the zone role (`SET LOCAL ROLE`), the only
  role whose policy reads every branch's rows (see `tenants.rls`).
"""

from __future__ import annotations

import functools
import uuid

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, TextClause
from sqlalchemy.sql.util import find_tables

from tenants.context import Context
from tenants.errors import CrossTenantWrite, NoTenantContext, UncheckedSQL
from tenants.orm import TenantOwned, is_tenant_owned

CONTEXT_KEY = "pmsc.context"
ZONE_ROLE_KEY = "pmsc.zone_role"  # in session.info: the role a zone-context transaction becomes


class TenantSession(Session):
    """A session that knows its context; every query it runs is filtered by it."""

    @property
    def context(self) -> Context | None:
        return self.info.get(CONTEXT_KEY)


def bind_context(session: Session, context: Context) -> None:
    """Put `session` in `context`, also for a transaction already under way."""
    previous = session.info.get(CONTEXT_KEY)
    session.info[CONTEXT_KEY] = context
    if previous is not None and previous != context:
        _forget_unreachable_rows(session, context)
    if session.in_transaction():
        _apply_database_setting(session.connection(), context, session.info.get(ZONE_ROLE_KEY))


def _forget_unreachable_rows(session: Session, context: Context) -> None:
    """Expunge the clean tenant-owned objects the new context may not read, so `session.get`
    cannot hand one out of the identity map without a (filtered) query. Unflushed changes stay,
    for the flush hook to refuse."""
    if context.scope == "zone":
        return
    changed = {*session.new, *session.dirty, *session.deleted}
    for obj in list(session.identity_map.values()):
        if not is_tenant_owned(type(obj)) or obj in changed:
            continue
        state = inspect(obj)
        key = [column.key for column in state.mapper.primary_key].index("tenant_id")
        if context.scope != "tenant" or state.identity[key] != context.tenant_id:
            session.expunge(obj)


def current_context(session: Session) -> Context | None:
    """The context `session` is bound to, if any."""
    return session.info.get(CONTEXT_KEY)


def _apply_database_setting(connection, context: Context | None, zone_role: str | None) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant = str(context.tenant_id) if context and context.tenant_id else ""
    scope = context.scope if context else ""
    role = "none"  # the session's own (login) role
    if scope == "zone":
        if not zone_role:
            raise NoTenantContext("a zone context needs the zone role (session.info)")
        role = zone_role
    # straight on the driver's cursor: it runs twice in every request, and SQLAlchemy's result
    # set-up for a row nobody reads cost more than the statement (B3, tests/perf/RESULTS.md)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(SET_DATABASE_CONTEXT, (tenant, scope, role))
    finally:
        cursor.close()


SET_DATABASE_CONTEXT = (
    "SELECT set_config('pmsc.tenant_id', %s, true), set_config('pmsc.scope', %s, true), "
    "set_config('role', %s, true)"
)


@event.listens_for(TenantSession, "after_begin")
def _on_begin(session: Session, transaction, connection) -> None:
    _apply_database_setting(
        connection, session.info.get(CONTEXT_KEY), session.info.get(ZONE_ROLE_KEY)
    )


def statement_tables(statement) -> list:
    """Every occurrence of a table in `statement`, subqueries and DML targets included; raises
    `UncheckedSQL` if any part of it is textual SQL (its tables cannot be known)."""
    tables: list = []
    texts: list = []
    visitors.traverse(
        statement,
        {},
        {
            "table": tables.append,
            "insert": lambda crud: tables.append(crud.table),
            "update": lambda crud: tables.append(crud.table),
            "delete": lambda crud: tables.append(crud.table),
            "textclause": texts.append,
            "textual_select": texts.append,
        },
    )
    if texts:
        raise UncheckedSQL(TEXTUAL_SQL)
    return tables


TEXTUAL_SQL = (
    "textual SQL through a session is refused: the isolation layer cannot tell which tables "
    "it reads; write the statement with the ORM, or run infrastructure SQL on the connection "
    "(session.connection()) knowingly"
)


def _through_orm(table) -> bool:
    # an ORM entity's table carries its mapper as an annotation; loader criteria reach it
    return "parententity" in getattr(table, "_annotations", {})


@event.listens_for(TenantSession, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete or state.is_insert):
        if isinstance(state.statement, TextClause):
            raise UncheckedSQL(TEXTUAL_SQL)
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the parent query already carries the criteria
    tables = [t for t in statement_tables(state.statement) if is_tenant_owned(t)]
    if not tables and not any(is_tenant_owned(m.class_) for m in state.all_mappers):
        return
    context = state.session.info.get(CONTEXT_KEY)
    if context is None or context.scope == "system":
        raise NoTenantContext(
            "a tenant-owned table was queried without a tenant context; "
            "bind one with tenants.isolation.bind_context"
        )
    if context.scope == "zone":
        if not state.is_select:
            raise CrossTenantWrite("the zone context reads tenant data; it never writes it")
        return
    if state.is_insert:
        _check_inserted_rows(state, context)
        return
    if state.is_update:
        _check_updated_rows(state, context)
    mapped_tables = {m.local_table for m in state.all_mappers}
    if not all(_through_orm(t) or t in mapped_tables for t in tables):
        raise NoTenantContext(
            "in a tenant context, tenant-owned tables are queried through their ORM entity "
            "so the tenant criteria reach them"
        )
    state.statement = state.statement.options(_tenant_criteria(context.tenant_id))


# building the option costs more than the query it filters (SQLAlchemy analyses the lambda each
# time): one per tenant, reused; its closure holds that tenant's id and nothing else
@functools.lru_cache(maxsize=4096)
def _tenant_criteria(tenant_id: uuid.UUID):
    return with_loader_criteria(
        TenantOwned,
        lambda cls: cls.tenant_id == tenant_id,
        include_aliases=True,
    )


def _check_inserted_rows(state: ORMExecuteState, context: Context) -> None:
    """An ORM bulk insert must name the current tenant on every row; an INSERT … SELECT must
    take its tenant from a parameter holding the current tenant, and read no tenant-owned
    table (the loader criteria do not reach inside an INSERT)."""
    if getattr(state.statement, "select", None) is not None:
        _check_inserted_selection(state, context)
        return
    rows = state.parameters
    if (
        rows is None
        or getattr(state.statement, "_values", None)
        or getattr(state.statement, "_multi_values", None)
    ):
        raise CrossTenantWrite(
            "bulk inserts of tenant-owned rows must pass their rows as parameters"
        )
    for row in rows if isinstance(rows, list) else [rows]:
        if row.get("tenant_id") != context.tenant_id:
            raise CrossTenantWrite("refused a bulk insert row of another tenant")


def _check_inserted_selection(state: ORMExecuteState, context: Context) -> None:
    statement = state.statement
    selection = statement.select
    if any(is_tenant_owned(t) for t in find_tables(selection)):
        raise CrossTenantWrite("an INSERT … SELECT of tenant-owned rows may not read tenant data")
    names = [getattr(n, "key", n) for n in statement._select_names]
    if "tenant_id" not in names:
        raise CrossTenantWrite("an INSERT … SELECT of tenant-owned rows must name their tenant")
    source = selection.selected_columns[names.index("tenant_id")]
    params = state.parameters if isinstance(state.parameters, dict) else {}
    if not isinstance(source, BindParameter):
        raise CrossTenantWrite("an INSERT … SELECT takes the tenant from a parameter")
    tenant = params.get(source.key, source.value)
    if tenant != context.tenant_id:
        raise CrossTenantWrite("refused an INSERT … SELECT of another tenant's rows")


def _check_updated_rows(state: ORMExecuteState, context: Context) -> None:
    """An ORM UPDATE never moves rows to another tenant; a bulk UPDATE by primary key (a list of
    parameter rows), which the loader criteria do not reach, must name the current tenant on
    every row."""
    assigned = getattr(state.statement, "_values", None) or {}  # also holds ordered_values()
    if "tenant_id" in {getattr(key, "key", key) for key in assigned}:
        raise CrossTenantWrite("an UPDATE never changes the tenant of a row")
    rows = state.parameters
    bulk = isinstance(rows, list)
    for row in rows if bulk else [rows or {}]:
        if (bulk or "tenant_id" in row) and row.get("tenant_id") != context.tenant_id:
            raise CrossTenantWrite("refused an UPDATE of a row of another tenant")


@event.listens_for(TenantSession, "before_flush")
def _refuse_foreign_rows(session: Session, flush_context, instances) -> None:
    context = session.info.get(CONTEXT_KEY)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not is_tenant_owned(type(obj)):
            continue
        if context is None or context.scope != "tenant":
            raise NoTenantContext(f"cannot write {type(obj).__name__} outside a tenant context")
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = context.tenant_id
        owners = {obj.tenant_id}
        if obj not in session.new:
            # a persistent row keeps its tenant: re-keying would take another tenant's row
            owners.update(inspect(obj).attrs.tenant_id.history.deleted)
        if owners != {context.tenant_id}:
            raise CrossTenantWrite(
                f"refused to write {type(obj).__name__} of another tenant in this context"
            )
