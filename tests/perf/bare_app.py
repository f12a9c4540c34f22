"""The baseline of B3: bare Flask endpoints that run the SQL the service runs for its two list
endpoints, with psycopg and nothing else, and answer the same JSON.

Served by `bench_api` under the same gunicorn config as the service (`deploy/gunicorn.conf.py`:
2 workers, gthread, 4 threads), so the ratio service : bare is what the service's own layers
cost (flask-smorest, webargs and marshmallow, SQLAlchemy's ORM and pool, the isolation hooks,
JWT validation, the unit of work), not the database work or the HTTP server.

The statements are the ones the service runs per request, all on the driver's cursor: the
`set_config` ones (`tenants.isolation.SET_DATABASE_CONTEXT`), the account and branch lookups
(`tenants.table_reads.ZoneTableLookup`) and the list's count and page (`TenantTableRead`).
`bench_api` checks at start that both answer the same body and `X-Pagination` header, and
that the service sends psycopg these statements, in this order:

1. `;` in autocommit: the pool's pre-ping on checkout (`pool_pre_ping=True`; SQLAlchemy's
   psycopg dialect pings with an empty statement);
2. `BEGIN` (psycopg, implicit), `set_config(...)` with an empty context;
3. the caller's account id by issuer and subject (the JWT is not verified here: only decoded);
4. the branch by slug;
5. `set_config(...)` with the branch's context, the `count(*)` of the branch's rows, the
   page with its `ORDER BY` and `LIMIT`/`OFFSET`;
6. `COMMIT`.

Phones and ID-card numbers are decrypted (Fernet, the same keys) as the service does: the
caller is a branch admin, who sees them in clear.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
from datetime import UTC
from typing import Any

import psycopg
from cryptography.fernet import Fernet, MultiFernet
from flask import Flask, Response, abort, jsonify, request
from sqlalchemy.engine import make_url

PING = ";"
SET_CONTEXT = (
    "SELECT set_config('pmsc.tenant_id', %s, true), set_config('pmsc.scope', %s, true), "
    "set_config('role', %s, true)"
)
USER = (
    "SELECT users.id \nFROM users \n"
    "WHERE users.issuer = %(issuer)s::VARCHAR AND users.subject = %(subject)s::VARCHAR"
)
TENANT = (
    "SELECT tenants.id, tenants.slug, tenants.name, tenants.enterprise_name, "
    "tenants.enterprise_type, tenants.industry, tenants.employee_count, "
    "tenants.organization_type, tenants.status, tenants.created_at, tenants.updated_at, "
    "tenants.version \nFROM tenants \nWHERE tenants.slug = %(slug)s::VARCHAR"
)
MEMBER_COLUMNS = (
    "name",
    "gender",
    "birth_date",
    "ethnicity",
    "education",
    "phone",
    "id_card_number",
    "category",
    "party_status",
    "joined_party_date",
    "full_membership_date",
    "position",
    "party_group_id",
    "notes",
    "created_at",
    "updated_at",
    "version",
    "tenant_id",
    "id",
)
ACTIVITY_COLUMNS = (
    "tenant_id",
    "id",
    "kind",
    "title",
    "consultation_topic",
    "festival",
    "training_topic",
    "starts_at",
    "ends_at",
    "place",
    "organizer",
    "capacity",
    "status",
    "summary",
    "study_hours",
    "created_at",
    "updated_at",
    "version",
)


def _list_statements(table: str, columns: tuple[str, ...], order: str) -> tuple[str, str]:
    where = f"WHERE {table}.tenant_id = %(pmsc_tenant)s::UUID"
    count = f"SELECT count(*) AS count_1 \nFROM {table} \n{where}"
    page = (
        f"SELECT {', '.join(f'{table}.{c}' for c in columns)} \nFROM {table} \n{where} "
        f"ORDER BY {order} \n LIMIT %(pmsc_limit)s::BIGINT OFFSET %(pmsc_offset)s::BIGINT"
    )
    return count, page


MEMBERS_COUNT, MEMBERS_PAGE = _list_statements(
    "members", MEMBER_COLUMNS, "members.name, members.id"
)
ACTIVITIES_COUNT, ACTIVITIES_PAGE = _list_statements(
    "activities", ACTIVITY_COLUMNS, "activities.starts_at DESC, activities.id DESC"
)
STATEMENTS = {
    "ping": PING,
    "set_context": SET_CONTEXT,
    "user": USER,
    "tenant": TENANT,
    "members_count": MEMBERS_COUNT,
    "members_page": MEMBERS_PAGE,
    "activities_count": ACTIVITIES_COUNT,
    "activities_page": ACTIVITIES_PAGE,
}


def list_parameters(tenant_id: Any, limit: int, offset: int) -> tuple[dict, dict]:
    """The parameters of a list's count and of its page."""
    counted = {"pmsc_tenant": tenant_id}
    return counted, {**counted, "pmsc_limit": limit, "pmsc_offset": offset}


def conninfo(url: str) -> str:
    """A libpq connection string from the service's SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _unverified_identity(header: str) -> tuple[str, str]:
    """Issuer and subject of a bearer JWT, decoded without checking its signature."""
    token = header.partition(" ")[2].strip()
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["iss"]), str(claims["sub"])
    except (IndexError, KeyError, ValueError):
        abort(401)


def _jsonable(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in ("created_at", "updated_at", "starts_at", "ends_at"):
        return value.astimezone(UTC).isoformat()
    if column in ("birth_date", "joined_party_date", "full_membership_date", "id"):
        return value.isoformat() if column != "id" else str(value)
    if column == "party_group_id":
        return str(value)
    if column == "study_hours":
        return float(value)
    return value


def _pagination(total: int, page: int, page_size: int) -> str:
    """The `X-Pagination` header as flask-smorest writes it."""
    if total == 0:
        return json.dumps({"total": 0, "total_pages": 0})
    pages = math.ceil(total / page_size)
    meta = {"total": total, "total_pages": pages, "first_page": 1, "last_page": pages}
    if page <= pages:
        meta["page"] = page
        if page > 1:
            meta["previous_page"] = page - 1
        if page < pages:
            meta["next_page"] = page + 1
    return json.dumps(meta)


def create_app() -> Flask:
    """The bare app, configured from `PMSC_DATABASE_URL` and `PMSC_DATA_KEY` like the service."""
    app = Flask(__name__)
    app.json.ensure_ascii = False
    dsn = conninfo(os.environ["PMSC_DATABASE_URL"])
    cipher = MultiFernet([Fernet(k.strip()) for k in os.environ["PMSC_DATA_KEY"].split(",")])
    local = threading.local()  # one connection per gunicorn thread: the cheapest possible pool

    def connection() -> psycopg.Connection:
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(dsn, connect_timeout=5)
        # the service's pool pings on every checkout, in autocommit; so does the baseline
        conn.autocommit = True
        conn.execute(PING)
        conn.autocommit = False
        return conn

    def listing(table: str, count_sql: str, page_sql: str, columns: tuple[str, ...]) -> Response:
        page = int(request.args.get("page", 1))
        page_size = int(request.args.get("page_size", 10))
        issuer, subject = _unverified_identity(request.headers.get("Authorization", ""))
        conn = connection()
        try:
            cur = conn.cursor()
            cur.execute(SET_CONTEXT, ("", "", "none"))
            cur.execute(USER, {"issuer": issuer, "subject": subject})
            cur.fetchall()
            tenant = cur.execute(TENANT, {"slug": request.view_args["slug"]}).fetchone()
            if tenant is None:
                abort(404)
            tenant_id = tenant[0]
            cur.execute(SET_CONTEXT, (str(tenant_id), "tenant", "none"))
            counted, paged = list_parameters(tenant_id, page_size, (page - 1) * page_size)
            total = cur.execute(count_sql, counted).fetchone()[0]
            rows = cur.execute(page_sql, paged).fetchall()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        items = []
        for row in rows:
            item = {}
            for column, value in zip(columns, row, strict=True):
                if column == "tenant_id":
                    continue
                if column in ("phone", "id_card_number") and value is not None:
                    value = cipher.decrypt(value.encode()).decode()
                item[column] = _jsonable(column, value)
            items.append(item)
        response = jsonify(items)
        response.headers["X-Pagination"] = _pagination(total, page, page_size)
        return response

    @app.get("/api/v1/t/<slug>/members")
    def members(slug: str) -> Response:
        return listing("members", MEMBERS_COUNT, MEMBERS_PAGE, MEMBER_COLUMNS)

    @app.get("/api/v1/t/<slug>/activities")
    def activities(slug: str) -> Response:
        return listing("activities", ACTIVITIES_COUNT, ACTIVITIES_PAGE, ACTIVITY_COLUMNS)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app
