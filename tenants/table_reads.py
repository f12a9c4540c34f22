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
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, func, select
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
    """A row read from a tenant-owned table: its columns as attributes, read-only."""

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


class TenantTableRead:
    """Count-and-page reads of one tenant-owned table in a fixed order, filtered by named
    conditions; one compiled pair of statements per set of conditions used and dialect."""

    def __init__(
        self, model: type, *, order_by: OrderBy, conditions: Mapping[str, Condition]
    ) -> None:
        table = model.__table__
        if not is_tenant_owned(table):
            raise TypeError(f"{table.name} is not tenant-owned: read it through the ORM")
        if RESERVED_PARAMS & set(conditions):
            raise ValueError(f"conditions may not be named {sorted(RESERVED_PARAMS)}")
        self.table = table
        self._order_by = order_by
        self._conditions = dict(conditions)
        self._criterion = table.c.tenant_id == bindparam(TENANT_PARAM, type_=table.c.tenant_id.type)
        self._keys = tuple(column.key for column in table.c)
        self._record = type(f"{model.__name__}Record", (TableRecord,), {})
        self._compiled: dict[tuple[str, frozenset[str]], tuple[_Statement, _Statement]] = {}

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
        if session.autoflush:  # as an ORM query would: pending changes are part of the answer
            session.flush()
        connection = session.connection()
        count, rows = self._statements(connection.dialect, frozenset(where))
        values = {**where, TENANT_PARAM: tenant_id}
        cursor = connection.connection.cursor()
        try:
            cursor.execute(count.sql, count.parameters(values))
            total = cursor.fetchone()[0]
            cursor.execute(
                rows.sql, rows.parameters({**values, LIMIT_PARAM: limit, OFFSET_PARAM: offset})
            )
            found = cursor.fetchall()
            processors = rows.result
            if processors is None:
                processors = rows.result = self._result_processors(
                    connection.dialect, cursor.description
                )
        finally:
            cursor.close()
        return [self._make(row, processors) for row in found], total

    def statements(self, dialect, used: frozenset[str] = frozenset()) -> tuple[str, str]:
        """The SQL of the count and of the page for the conditions `used` (for baselines)."""
        count, rows = self._statements(dialect, used)
        return count.sql, rows.sql

    def _make(self, row: Sequence[Any], processors: list) -> TableRecord:
        record = object.__new__(self._record)
        # straight into the instance's dict: the record refuses attribute assignment
        values = [v if f is None else f(v) for f, v in zip(processors, row, strict=True)]
        record.__dict__.update(zip(self._keys, values, strict=True))
        return record

    def _result_processors(self, dialect, description) -> list:
        return [
            column.type.dialect_impl(dialect).result_processor(dialect, entry[1])
            for column, entry in zip(self.table.c, description, strict=True)
        ]

    def _statements(self, dialect, used: frozenset[str]) -> tuple[_Statement, _Statement]:
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
            # for every later call of it: values come in `where`, by name, every time
            if name not in RESERVED_PARAMS and parameter.value is not None:
                raise ValueError(
                    f"a condition's parameter carries a value ({parameter.value!r}): use "
                    "bindparam(<the condition's name>) and pass the value in `where`"
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


def _tenant_of(session: Session):
    context = session.info.get(CONTEXT_KEY)
    if context is None or context.scope != "tenant":
        raise NoTenantContext("a branch's table is read in that branch's context only")
    return context.tenant_id
