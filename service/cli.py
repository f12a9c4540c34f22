"""`pmsc`: one command line for everything an operator does."""

from __future__ import annotations

import getpass
import os
import sys
import time

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service import create_app, zone_generator
from service.config import ConfigError, Settings
from service.database import DatabaseUnavailable, db, safe_url


def _settings() -> Settings:
    return current_app.config["PMSC_SETTINGS"]


def _check_database(url: str) -> None:
    """Exit with one line naming the database when it cannot be reached."""
    try:
        from service.database import make_engine

        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except (OperationalError, DatabaseUnavailable) as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise click.ClickException(
            f"cannot reach the database at {safe_url(url)}: {reason}"
        ) from None


def _check_schema(url: str) -> None:
    """Exit with one line when the database's schema is not the one this code expects."""
    from service import schema_migrations

    current = schema_migrations.current_revision(url)
    head = schema_migrations.head_revision()
    if current != head:
        raise click.ClickException(
            f"the database at {safe_url(url)} is at schema revision {current or '(empty)'}, "
            f"this code needs {head}: run `pmsc db upgrade`"
        )


@click.group(
    cls=FlaskGroup,
    create_app=lambda: create_app(),
    add_default_commands=False,
    add_version_option=False,
)
def cli() -> None:
    """pmsc — the Party-masses Service Center."""


# db


@cli.group()
def db_group() -> None:
    """Schema migrations (run with the owner connection, PMSC_ADMIN_DATABASE_URL)."""


cli.add_command(db_group, "db")


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Migrate the schema, create row-level security policies, grant the app role."""
    _check_database(_settings().admin_database_url)
    from service import schema_migrations

    schema_migrations.upgrade(_settings(), revision)
    click.echo(f"database at {schema_migrations.current_revision(_settings().admin_database_url)}")


@db_group.command("downgrade")
@click.option("--revision", default="-1", show_default=True)
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Step the schema back (default: one revision)."""
    _check_database(_settings().admin_database_url)
    from service import schema_migrations

    schema_migrations.downgrade(_settings(), revision)
    click.echo(f"database at {schema_migrations.current_revision(_settings().admin_database_url)}")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the schema's revision and the newest one."""
    _check_database(_settings().admin_database_url)
    from service import schema_migrations

    current = schema_migrations.current_revision(_settings().admin_database_url)
    head = schema_migrations.head_revision()
    click.echo(
        f"current: {current or '(empty)'}  head: {head}"
        + ("" if current == head else "  — run `pmsc db upgrade`")
    )


# tenants


@cli.group()
def tenants() -> None:
    """The register of branches (tenants)."""


def _cli_session():
    from service.audit.recorder import set_actor
    from tenants.context import Context
    from tenants.isolation import bind_context

    _check_database(_settings().database_url)
    _check_schema(_settings().database_url)
    session = db.new_session()
    bind_context(session, Context.system())
    set_actor(session, {"iss": None, "sub": f"cli:{getpass.getuser()}", "name": None})
    return session


@tenants.command("create")
@click.option("--slug", required=True)
@click.option("--name", required=True, help="the Party organization's name")
@click.option("--enterprise-name", required=True)
@click.option(
    "--enterprise-type",
    required=True,
    type=click.Choice(["private", "foreign-funded", "joint-venture", "other"]),
)
@click.option("--industry", required=True)
@click.option("--employees", "employee_count", type=click.IntRange(min=0), required=True)
@click.option(
    "--organization-type",
    default="branch",
    show_default=True,
    type=click.Choice(["branch", "general-branch", "committee"]),
)
@with_appcontext
def tenants_create(slug: str, **fields) -> None:
    """Register a branch."""
    from tenants import provisioning
    from tenants.errors import SlugTaken

    with _cli_session() as session:
        try:
            tenant = provisioning.create_tenant(session, slug=slug, **fields)
        except SlugTaken:
            raise click.ClickException(f"a branch with slug {slug!r} already exists") from None
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        session.commit()
        click.echo(f"created {tenant.slug} ({tenant.id})")


@tenants.command("list")
@with_appcontext
def tenants_list() -> None:
    """List branches."""
    from tenants import provisioning

    with _cli_session() as session:
        rows, total = provisioning.list_tenants(session)
        for t in rows:
            click.echo(f"{t.slug:40} {t.status.value:10} {t.organization_type.value:15} {t.name}")
        click.echo(f"{total} branch(es)")


def _set_status(slug: str, status: str) -> None:
    from tenants import provisioning
    from tenants.errors import TenantNotFound
    from tenants.registry import TenantStatus

    with _cli_session() as session:
        try:
            provisioning.set_status(session, slug=slug, status=TenantStatus(status))
        except TenantNotFound:
            raise click.ClickException(f"no branch {slug!r}") from None
        session.commit()
        click.echo(f"{slug}: {status}")


@tenants.command("suspend")
@click.argument("slug")
@with_appcontext
def tenants_suspend(slug: str) -> None:
    """Suspend a branch: its space answers 403 until reactivated."""
    _set_status(slug, "suspended")


@tenants.command("archive")
@click.argument("slug")
@with_appcontext
def tenants_archive(slug: str) -> None:
    """Archive a branch: its space becomes read-only."""
    _set_status(slug, "archived")


@tenants.command("activate")
@click.argument("slug")
@with_appcontext
def tenants_activate(slug: str) -> None:
    """Reactivate a suspended or archived branch."""
    _set_status(slug, "active")


# demo


@cli.command("demo")
@click.option("--if-empty", is_flag=True, help="seed only when no branch is registered")
@click.option(
    "--size",
    type=click.Choice(list(zone_generator.SIZES)),
    help="instead of the demo zone, bulk-load a synthetic zone: small (20 branches, 2,000 "
    "members), medium (200, 20,000), large (2,000, 200,000); then run `pmsc rollups recompute`",
)
@click.option(
    "--seed",
    type=int,
    help=f"the synthetic zone's random seed (default {zone_generator.DEFAULT_SEED})",
)
@with_appcontext
def demo(if_empty: bool, size: str | None, seed: int | None) -> None:
    """Seed the demo zone: branches of different sizes and industries, with members and a year
    of activities; or, with --size, a synthetic zone for load tests."""
    from service.demo import seed_demo_zone
    from tenants.registry import Tenant

    if seed is not None and size is None:
        raise click.UsageError("--seed goes with --size (the demo zone has no seed)")
    with _cli_session() as session:
        if if_empty and session.scalar(select(Tenant.id).limit(1)) is not None:
            click.echo("branches already registered; demo not seeded")
            return
        if size is None:
            added = seed_demo_zone(session)
            session.commit()
            click.echo(f"demo zone: added {len(added)} branch(es): {', '.join(added) or 'none'}")
            return
        _load_synthetic_zone(session, size, seed)


def _load_synthetic_zone(session: Session, size: str, seed: int | None) -> None:
    """Bulk-load a synthetic zone in the session and commit; print its counts and time."""
    zone = zone_generator.SIZES[size]
    step = zone.branches // 10

    def progress(done: int, total: int) -> None:
        # a large load takes minutes: say how far it is (small ones finish before it matters)
        if total >= 200 and done % step == 0:
            click.echo(f"  {done}/{total} branches", err=True)

    started = time.monotonic()
    try:
        load = zone_generator.load_zone(
            session,
            size=zone,
            seed=zone_generator.DEFAULT_SEED if seed is None else seed,
            progress=progress,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    session.commit()
    zone_generator.refresh_statistics(_settings().admin_database_url)
    counts = ", ".join(f"{count} {name}" for name, count in zone_generator.zone_counts(load))
    click.echo(
        f"synthetic zone {load.size} (seed {load.seed}): {counts} "
        f"in {time.monotonic() - started:.1f} s; run `pmsc rollups recompute` for the rankings"
    )


# keys


@cli.group()
def keys() -> None:
    """Encryption keys of personal data."""


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Re-encrypt every ID-card number and phone with the first key of PMSC_DATA_KEY."""
    from service.members.keys import rotate_member_fields
    from tenants.registry import Tenant

    with _cli_session() as session:
        tenant_ids = list(session.scalars(select(Tenant.id)))
    count = 0
    for tenant_id in tenant_ids:
        with _cli_session() as session:
            count += rotate_member_fields(session, tenant_id=tenant_id)
            session.commit()
    click.echo(f"re-encrypted {count} member record(s) in {len(tenant_ids)} branch(es)")


# jobs


IN_PROCESS = (
    "PMSC_REDIS_URL is not set: jobs run in-process, right after the commit that records them; "
    "a failing job stays in the outbox (`pmsc jobs pending`)"
)


@cli.command("worker")
@click.option("--burst", is_flag=True, help="relay once, work until the queues are empty, exit")
@with_appcontext
def worker(burst: bool) -> None:
    """Run an rq worker on every queue, with the scheduler and the outbox relay."""
    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(IN_PROCESS + "; a worker needs Redis")
    _check_database(settings.database_url)
    _check_schema(settings.database_url)
    from workers.connection import redis_ping
    from workers.worker import run_worker

    if not redis_ping(settings.redis_url):
        raise click.ClickException(f"cannot reach Redis at {_redis_shown(settings)}")
    run_worker(current_app._get_current_object(), settings.redis_url, burst=burst)


def _redis_shown(settings: Settings) -> str:
    from service.config import _without_password

    return _without_password(settings.redis_url)


@cli.group("jobs")
def jobs_group() -> None:
    """Background jobs: failures, retries, the outbox."""


def _failed_registries():
    from rq.registry import FailedJobRegistry

    from workers.queues import queues

    settings = _settings()
    from workers.connection import redis_ping

    if not redis_ping(settings.redis_url):
        raise click.ClickException(f"cannot reach Redis at {_redis_shown(settings)}")
    return [FailedJobRegistry(queue=q) for q in queues(settings.redis_url).values()]


@jobs_group.command("failed")
@with_appcontext
def jobs_failed() -> None:
    """List failed jobs: id, job, tenant, the error's last line, when."""
    if not _settings().redis_url:
        click.echo(IN_PROCESS)
        return
    from rq.job import Job

    count = 0
    for registry in _failed_registries():
        ids = registry.get_job_ids()
        for job in Job.fetch_many(ids, connection=registry.connection):
            if job is None:
                continue
            count += 1
            name, tenant = [*job.args, None, None][:2]
            result = job.latest_result()
            lines = ((result and result.exc_string) or "").strip().splitlines()
            ended = job.ended_at or (result and result.created_at)
            when = ended.isoformat(timespec="seconds") if ended else "-"
            click.echo(
                f"{job.id}  {registry.name:13}  {name}  tenant={tenant or '-'}  {when}  "
                f"{lines[-1] if lines else '(no error recorded)'}"
            )
    click.echo(f"{count} failed job(s)")


@jobs_group.command("retry")
@click.option("--all", "everything", is_flag=True, help="every failed job")
@click.argument("job_ids", nargs=-1)
@with_appcontext
def jobs_retry(everything: bool, job_ids: tuple[str, ...]) -> None:
    """Re-queue failed jobs (in-process mode: run the outbox's pending jobs again now)."""
    if not everything and not job_ids:
        raise click.UsageError("name the job ids to retry, or pass --all")
    if not _settings().redis_url:
        from workers.relay import run_pending_in_process

        report = run_pending_in_process(current_app._get_current_object(), max_attempts=None)
        click.echo(IN_PROCESS)
        click.echo(f"ran {report.jobs} job(s) in-process; {report.failed} outbox row(s) failed")
        return
    wanted = set(job_ids)
    requeued = 0
    for registry in _failed_registries():
        for job_id in registry.get_job_ids():
            if everything or job_id in wanted:
                registry.requeue(job_id)
                wanted.discard(job_id)
                requeued += 1
    click.echo(f"re-queued {requeued} job(s)")
    if wanted:
        raise click.ClickException(f"not in any failed registry: {', '.join(sorted(wanted))}")


@jobs_group.command("pending")
@with_appcontext
def jobs_pending() -> None:
    """Show outbox rows not yet dispatched (to Redis, or run in-process)."""
    from workers.models import OutboxMessage

    with _cli_session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dispatched_at.is_(None))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).all()
        for row in rows:
            click.echo(
                f"{row.id}  {row.created_at.isoformat(timespec='seconds')}  {row.job}  "
                f"tenant={row.tenant_id or '-'}  key={row.coalesce_key or '-'}  "
                f"attempts={row.attempts}  {row.last_error or ''}".rstrip()
            )
        click.echo(f"{len(rows)} pending outbox row(s)")
    if not _settings().redis_url:
        click.echo(IN_PROCESS)


# rollups


@cli.group("rollups")
def rollups_group() -> None:
    """The zone's read models: each branch's figures per year and month."""


@rollups_group.command("recompute")
@click.option(
    "--tenant", "slug", help="only this branch (by slug); default every active or archived one"
)
@with_appcontext
def rollups_recompute(slug: str | None) -> None:
    """Recompute the branches' rollups here and now (the current and previous year)."""
    from service.rollups.jobs import recompute_tenants

    _check_database(_settings().database_url)
    _check_schema(_settings().database_url)
    report = recompute_tenants([slug] if slug else None)
    if slug and not report.branches and not report.failed:
        raise click.ClickException(f"no branch {slug!r}")
    click.echo(
        f"recomputed {report.branches} branch(es), {report.rows} row(s) in {report.seconds:.2f} s"
    )
    for failed, error in report.failed.items():
        click.echo(f"failed: {failed}: {error}", err=True)
    if report.failed:
        sys.exit(1)


# serve


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn workers (production and testing)",
)
@with_appcontext
def serve(host: str, port: int, workers: int) -> None:
    """Serve HTTP: gunicorn, or Flask's server in development."""
    settings = _settings()
    _check_database(settings.database_url)
    if settings.database_url.startswith("postgresql"):
        _check_app_role(settings)
    if settings.env == "development":
        # not `app.run()`: under a Flask CLI group it is a no-op that returns at once
        from werkzeug.serving import run_simple

        run_simple(host, port, current_app._get_current_object(), threaded=True)
        return
    gunicorn_config = os.path.join(os.path.dirname(__file__), "..", "deploy", "gunicorn.conf.py")
    # replace this process with gunicorn, which then owns the workers and signals
    os.execvp(  # noqa: S606
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            os.path.abspath(gunicorn_config),
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "service:create_app()",
        ],
    )


def _check_app_role(settings: Settings) -> None:
    from service.database import make_engine
    from tenants.database_roles import role_problems

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            problems = role_problems(connection)
    finally:
        engine.dispose()
    if problems and settings.is_production:
        raise click.ClickException("refusing to serve: " + "; ".join(problems))
    for problem in problems:
        click.echo(f"warning: {problem}: row-level security is not enforced", err=True)


def main() -> None:
    """Console entry point: configuration errors are one line and exit status 2."""
    try:
        Settings.from_env()
    except ConfigError as error:
        click.echo(f"pmsc: configuration error: {error}", err=True)
        sys.exit(2)
    try:
        cli.main(prog_name="pmsc")
    except DatabaseUnavailable as error:  # raised while building the app: one line, no traceback
        click.echo(f"pmsc: {error}", err=True)
        sys.exit(1)
