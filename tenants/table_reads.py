"""Pages of one tenant-owned table, compiled once per shape and run on the driver's cursor.

The branch's list endpoints read through here (issue 5, B3): for a page of 50 rows, the ORM's
per-statement work (building the statement, its cache key, the isolation hook's walk, the
result set-up, 50 entities in the identity map) cost more CPU than everything else in the
request. Isolation holds as on the ORM path, by construction:

* a shape reads exactly its own tenant-owned table: no other table, no textual SQL, no
  parameter expanded at run time (checked once, when the shape is compiled);
* its WHERE starts with `tenant_id = :pmsc_tenant`, and that parameter is bound from the
  session's context, never from the caller: outside a tenant context there is no read;
* the statements run on the session's own connection, in its transaction: on PostgreSQL the
  context's settings, and so row-level security, apply to them as to every other statement.

Rows come back as read-only `TableRecord`s: each column's value as its type reads it
(decrypted, UTC-aware, enum members), without the identity map or lazy loads.

`ZoneTableLookup` is the same machinery for the two lookups every branch request starts with
(the caller's account by issuer and subject, the branch by slug): one row of a zone-level table
by a unique key. Those tables hold no branch's records, so no context is needed or bound; a
tenant-owned table is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Column, Table, UniqueConstraint, bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from tenants.errors import NoTenantContext
from tenants.isolation import CONTEXT_KEY, statement_tables
from tenants.orm import is_tenant_owned

TENANT_PARAM = "pmsc_tenant"
LIMIT_PARAM = "pmsc_limit"
OFFSET_PARAM = "pmsc_offset"
RESERVED_PARAMS = frozenset({TENANT_PARAM, LIMIT_PARAM, OFFSET_PARAM})

Condition = Callable[[Table], ColumnElement[bool]]
OrderBy = Callable[[Table], Sequence[ColumnElement[Any]]]


class TableRecord:
    """A row read through a compiled read: its columns as attributes, read-only."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is a read-only record; load the entity")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'id', '?')}>"


@dataclass
class _Statement:
    """One compiled statement: its SQL for the driver and how its values cross the boundary."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order, for positional drivers
    names: frozenset[str]
    bind: dict[str, Callable[[Any], Any]]
    result: list[Callable[[Any], Any] | None] | None = field(default=None)

    def parameters(self, values: Mapping[str, Any]) -> Any:
        converted = {
            name: (convert(values[name]) if (convert := self.bind.get(name)) else values[name])
            for name in self.names
        }
        if self.positions is None:
            return converted
        return tuple(converted[name] for name in self.positions)


class _CompiledReads:
    """Statements over one table compiled once per (dialect, parameters used), run on the
    session's driver cursor, their rows made into records of the table's columns."""

    def __init__(self, model: type, columns: Sequence[Column]) -> None:
        self.table = model.__table__
        self._columns = tuple(columns)
        self._keys = tuple(column.key for column in self._columns)
        self._record = type(f"{model.__name__}Record", (TableRecord,), {})
        self._compiled: dict[tuple[str, frozenset[str]], tuple[_Statement, ...]] = {}

    @staticmethod
    def _connection(session: Session) -> Connection:
        """The session's connection, pending changes flushed first (as an ORM query would:
        they are part of the answer)."""
        if session.autoflush:
            session.flush()
        return session.connection()

    def _fetch(
        self, connection: Connection, statement: _Statement, values: Mapping[str, Any]
    ) -> tuple[list, Any]:
        """The raw rows of `statement` and their description, on the driver's cursor in the
        session's transaction."""
        cursor = connection.connection.cursor()
        try:
            cursor.execute(statement.sql, statement.parameters(values))
            return cursor.fetchall(), cursor.description
        finally:
            cursor.close()

    def _records(
        self, connection: Connection, statement: _Statement, values: Mapping[str, Any]
    ) -> list[TableRecord]:
        """The rows of `statement` (selecting this read's columns) as records."""
        found, description = self._fetch(connection, statement, values)
        if statement.result is None:
            dialect = connection.dialect
            statement.result = [
                column.type.dialect_impl(dialect).result_processor(dialect, entry[1])
                for column, entry in zip(self._columns, description, strict=True)
            ]
        return [self._make(row, statement.result) for row in found]

    def _make(self, row: Sequence[Any], processors: list) -> TableRecord:
        record = object.__new__(self._record)
        # straight into the instance's dict: the record refuses attribute assignment
        values = [v if f is None else f(v) for f, v in zip(processors, row, strict=True)]
        record.__dict__.update(zip(self._keys, values, strict=True))
        return record

    def _compile(self, statement, dialect, used: frozenset[str]) -> _Statement:
        if any(table is not self.table for table in statement_tables(statement)):
            raise NoTenantContext(
                f"a read of {self.table.name} may read no other table; use the ORM for joins"
            )
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("parameters expanded at run time (IN lists) are not supported")
        bind: dict[str, Callable[[Any], Any]] = {}
        for parameter, name in compiled.bind_names.items():
            # a value written into a condition would be compiled into the shape and reused
            # for every later call of it: values come by name, every time
            if name not in RESERVED_PARAMS and parameter.value is not None:
                raise ValueError(
                    f"a condition's parameter carries a value ({parameter.value!r}): use "
                    "bindparam(<the condition's name>) and pass the value by that name"
                )
            convert = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                bind[name] = convert
        names = frozenset(compiled.bind_names.values())
        if not used <= names <= used | RESERVED_PARAMS:
            raise ValueError(
                "each condition uses one parameter, bindparam(<the condition's name>): "
                f"conditions {sorted(used)}, parameters {sorted(names - RESERVED_PARAMS)}"
            )
        positions = tuple(compiled.positiontup) if compiled.positional else None
        return _Statement(compiled.string, positions, names, bind)


class TenantTableRead(_CompiledReads):
    """Count-and-page reads of one tenant-owned table in a fixed order, filtered by named
    conditions; one compiled pair of statements per set of conditions used and dialect."""

    def __init__(
        self, model: type, *, order_by: OrderBy, conditions: Mapping[str, Condition]
    ) -> None:
        if not is_tenant_owned(model.__table__):
            raise TypeError(f"{model.__table__.name} is not tenant-owned: read it through the ORM")
        if RESERVED_PARAMS & set(conditions):
            raise ValueError(f"conditions may not be named {sorted(RESERVED_PARAMS)}")
        super().__init__(model, model.__table__.c)
        table = self.table
        self._order_by = order_by
        self._conditions = dict(conditions)
        self._criterion = table.c.tenant_id == bindparam(TENANT_PARAM, type_=table.c.tenant_id.type)

    def page(
        self,
        session: Session,
        *,
        tenant_id: uuid.UUID,
        where: Mapping[str, Any],
        offset: int,
        limit: int,
    ) -> tuple[list[TableRecord], int]:
        """The branch's rows meeting the conditions named in `where` (with their values; a
        condition whose value is None is not applied), `offset`/`limit` of them in order, and
        how many meet them in all."""
        where = {name: value for name, value in where.items() if value is not None}
        unknown = set(where) - set(self._conditions)
        if unknown:
            raise ValueError(f"no condition named {sorted(unknown)} on {self.table.name}")
        context_tenant = _tenant_of(session)
        if tenant_id != context_tenant:
            raise NoTenantContext("a branch's rows are read in that branch's context only")
        connection = self._connection(session)
        count, rows = self._statements(connection.dialect, frozenset(where))
        values = {**where, TENANT_PARAM: tenant_id}
        total = self._fetch(connection, count, values)[0][0][0]
        paged = {**values, LIMIT_PARAM: limit, OFFSET_PARAM: offset}
        return self._records(connection, rows, paged), total

    def _statements(self, dialect, used: frozenset[str]) -> tuple[_Statement, ...]:
        key = (dialect.name, used)
        compiled = self._compiled.get(key)
        if compiled is None:
            where = [self._criterion]
            where += [build(self.table) for name, build in self._conditions.items() if name in used]
            count = select(func.count()).select_from(self.table).where(*where)
            rows = (
                select(*self.table.c)
                .where(*where)
                .order_by(*self._order_by(self.table))
                .limit(bindparam(LIMIT_PARAM, type_=BigInteger))
                .offset(bindparam(OFFSET_PARAM, type_=BigInteger))
            )
            compiled = self._compiled[key] = (
                self._compile(count, dialect, used),
                self._compile(rows, dialect, used),
            )
        return compiled


class ZoneTableLookup(_CompiledReads):
    """One row of a zone-level table (not tenant-owned) by the values of a unique key, with
    the columns named (all by default); compiled once per dialect."""

    def __init__(
        self, model: type, *, key: Sequence[str], columns: Sequence[str] | None = None
    ) -> None:
        table = model.__table__
        if is_tenant_owned(table):
            raise TypeError(f"{table.name} is tenant-owned: read it in its branch's context")
        if not _is_unique_key(table, key):
            raise ValueError(f"{tuple(key)} is not a unique key of {table.name}")
        super().__init__(model, [table.c[name] for name in columns] if columns else table.c)
        self._key = frozenset(key)

    def one(self, session: Session, **key: Any) -> TableRecord | None:
        """The row whose key columns hold these values, or None."""
        if set(key) != self._key:
            raise ValueError(f"a lookup of {self.table.name} names {sorted(self._key)}")
        connection = self._connection(session)
        found = self._records(connection, self._statement(connection.dialect), key)
        return found[0] if found else None

    def _statement(self, dialect) -> _Statement:
        compiled = self._compiled.get((dialect.name, self._key))
        if compiled is None:
            lookup = select(*self._columns).where(
                *(self.table.c[name] == bindparam(name) for name in sorted(self._key))
            )
            compiled = self._compiled[(dialect.name, self._key)] = (
                self._compile(lookup, dialect, self._key),
            )
        return compiled[0]


def _is_unique_key(table: Table, key: Sequence[str]) -> bool:
    wanted = set(key)
    keys = [{c.name for c in table.primary_key}]
    keys += [
        {c.name for c in constraint.columns}
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [{c.name for c in index.columns} for index in table.indexes if index.unique]
    return any(k and k <= wanted for k in keys)


def _tenant_of(session: Session):
    context = session.info.get(CONTEXT_KEY)
    if context is None or context.scope != "tenant":
        raise NoTenantContext("a branch's table is read in that branch's context only")
    return context.tenant_id
