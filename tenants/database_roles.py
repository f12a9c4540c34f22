"""The database role the service connects as: owns nothing, cannot bypass row-level security;
and the zone role it becomes, for a zone-context transaction only (see `tenants.rls`)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from tenants.rls import ensure_zone_role_statement, zone_role


def ensure_app_role(connection: Connection, role: str, password: str | None = None) -> None:
    """Create `role` if missing, strip any power to bypass RLS, and grant it data access only;
    make it a member of its zone role that does not inherit it (it must `SET ROLE`)."""
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).scalar()
    quoted = connection.dialect.identifier_preparer.quote(role)
    if not exists:
        connection.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN")
    # NOINHERIT: the zone role's policy must apply only after an explicit SET ROLE
    connection.exec_driver_sql(
        f"ALTER ROLE {quoted} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
    )
    if password:
        connection.execute(text(f"ALTER ROLE {quoted} PASSWORD :password"), {"password": password})
    database = connection.dialect.identifier_preparer.quote(
        connection.execute(text("SELECT current_database()")).scalar()
    )
    reader = connection.dialect.identifier_preparer.quote(zone_role(role))
    connection.exec_driver_sql(ensure_zone_role_statement(reader))
    connection.exec_driver_sql(
        f"ALTER ROLE {reader} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
    )
    connection.exec_driver_sql(f"GRANT {reader} TO {quoted}")
    for grantee in (quoted, reader):
        _grant_data_access(connection, grantee, database)


def _grant_data_access(connection: Connection, quoted: str, database: str) -> None:
    connection.exec_driver_sql(f"GRANT CONNECT ON DATABASE {database} TO {quoted}")
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {quoted}")
    connection.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
    )
    connection.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    connection.exec_driver_sql(
        f"REVOKE INSERT, UPDATE, DELETE ON TABLE alembic_version FROM {quoted}"
    )


def role_problems(connection: Connection) -> list[str]:
    """Why the connected role could see across tenants; empty when it is safe."""
    row = connection.execute(
        text(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls FROM pg_roles r "
            "WHERE r.rolname = current_user"
        )
    ).one()
    problems = []
    if row.rolsuper:
        problems.append(f"role {row.rolname} is a superuser, which bypasses row-level security")
    if row.rolbypassrls:
        problems.append(f"role {row.rolname} has BYPASSRLS")
    # a member of a powerful role can SET ROLE to it: its attributes are as good as its own
    powerful = connection.execute(
        text(
            "SELECT r.rolname FROM pg_roles r WHERE r.rolname <> current_user "
            "AND (r.rolsuper OR r.rolbypassrls) AND pg_has_role(current_user, r.oid, 'MEMBER') "
            "ORDER BY r.rolname"
        )
    ).scalars()
    for name in powerful:
        problems.append(f"role {row.rolname} is a member of {name}, a superuser or BYPASSRLS role")
    owned = connection.execute(
        text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND pg_has_role(current_user, tableowner, 'MEMBER')"
        )
    ).scalar()
    if owned:
        problems.append(
            f"role {row.rolname} owns {owned} table(s), itself or through a role it is a member "
            "of; the service must own none"
        )
    # a role that a policy names (the zone reader) must be entered by SET ROLE, never inherited:
    # inherited, its policy would open every branch's rows to every branch's queries
    inherited = connection.execute(
        text(
            "SELECT DISTINCT r.rolname FROM pg_policies p "
            "JOIN pg_roles r ON r.rolname = ANY (p.roles) "
            "WHERE p.schemaname = 'public' AND r.rolname <> current_user "
            "AND pg_has_role(current_user, r.oid, 'USAGE') ORDER BY r.rolname"
        )
    ).scalars()
    for name in inherited:
        problems.append(
            f"role {row.rolname} inherits {name}, whose row-level security policy reads every "
            "branch's rows; it must be NOINHERIT"
        )
    return problems
