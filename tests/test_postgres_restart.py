"""PostgreSQL stopped and started again under a running service: a private cluster of the test's
own (initdb into a temporary folder, its own port), migrated, served by `pmsc serve`.

While PostgreSQL is down, `/healthz` (liveness) stays 200, `/readyz` answers 503 naming the
database, and API requests get a prompt 503 in the one error shape (never a 500, never a hang).
Once PostgreSQL accepts connections again, the same service processes answer the API with 200
within 5 s: the pool's pre-ping drops the dead connections and opens new ones, no restart.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from service import schema_migrations
from service.config import Settings
from tests.api.helpers import tenant_body, worker
from tests.conftest import APP_ROLE, DATA_KEY, SECRET_KEY
from tests.oidc_issuer import TestIssuer
from tests.perf.server import free_port
from tests.robustness.test_concurrency import Answer, call

REPO = Path(__file__).resolve().parents[1]
RECOVERY_SECONDS = 5  # the bound: PostgreSQL accepting again -> the API answering
PROMPT_SECONDS = 3  # an answer while the database is down comes at once, not after a timeout


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """A PostgreSQL cluster of its own: initdb, start, stop (fast), on a free port. Run as the
    `postgres` account when we are root (initdb and postgres refuse to run as root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pmsc-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.owner = "postgres" if os.geteuid() == 0 else None
        if self.owner:
            account = pwd.getpwnam(self.owner)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self.owner:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log))

    def configure(self) -> None:
        """Its own port and socket folder, loopback only; no fsync (a throwaway cluster)."""
        settings = (
            f"port = {self.port}\n"
            f"unix_socket_directories = '{self.root}'\n"
            "listen_addresses = '127.0.0.1'\n"
            "max_connections = 40\n"
            "fsync = off\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-t", "60", "-D", str(self.data))

    def accepts(self) -> bool:
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", connect_timeout=1
            ):
                return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) are not installed")
    made = Cluster(bin_dir)
    made.configure()
    made.start()
    yield made
    made.remove()


@pytest.fixture
def served(
    cluster: Cluster, issuer: TestIssuer, tmp_path
) -> Iterator[tuple[str, subprocess.Popen]]:
    """The service on the private cluster, migrated: `pmsc serve` (gunicorn, one worker)."""
    engine = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("CREATE DATABASE pmsc"))
    engine.dispose()
    env = {
        "PMSC_ENV": "testing",
        "PMSC_INSTANCE_PATH": str(tmp_path / "instance"),
        "PMSC_SECRET_KEY": SECRET_KEY,
        "PMSC_DATA_KEY": DATA_KEY,
        "PMSC_DB_APP_ROLE": APP_ROLE,
        "PMSC_DATABASE_URL": cluster.url("pmsc", APP_ROLE),
        "PMSC_ADMIN_DATABASE_URL": cluster.url("pmsc"),
        "PMSC_OIDC_ISSUER": issuer.url,
        "PMSC_OIDC_AUDIENCE": issuer.audience,
    }
    (tmp_path / "instance").mkdir()
    schema_migrations.upgrade(Settings.from_env(env))
    port = free_port()
    log = tmp_path / "serve.log"
    argv = [str(Path(sys.executable).with_name("pmsc")), "serve", "--host", "127.0.0.1"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*argv, "--port", str(port), "--workers", "1"],
            cwd=REPO,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _answers(base + "/readyz", 200), seconds=60, what="pmsc serve to be ready")
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        print(log.read_text(errors="replace")[-4000:])  # shown when the test fails


def _answers(url: str, status: int) -> bool:
    try:
        return call("GET", url, timeout=5).status == status
    except OSError:
        return False


def _until(check: Callable[[], object], *, seconds: float, what: str) -> float:
    """Poll `check` every 50 ms until it is truthy; the monotonic time it was; fail after
    `seconds` naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.05)
    pytest.fail(f"waited {seconds} s for {what}")


def _timed(request: Callable[[], Answer]) -> tuple[Answer, float]:
    started = time.monotonic()
    answer = request()
    return answer, time.monotonic() - started


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def test_the_service_reports_a_stopped_postgresql_and_answers_within_5_s_once_it_is_back(
    cluster: Cluster, served, issuer: TestIssuer
):
    base, process = served
    zone = issuer.token(["pmsc:zone:admin"])
    made = call("POST", f"{base}/api/v1/zone/tenants", token=zone, body=tenant_body())
    assert made.status == 201, made
    slug = made.body["slug"]
    admin = issuer.token([f"pmsc:branch:{slug}:admin"])
    members = f"{base}/api/v1/t/{slug}/members"
    assert call("POST", members, token=admin, body=worker("王芳")).status == 201
    assert call("GET", members, token=admin).status == 200
    workers = _children(process.pid)
    assert workers  # gunicorn's worker, whose pool now holds live connections

    cluster.stop()
    assert not cluster.accepts()

    live, took = _timed(lambda: call("GET", f"{base}/healthz"))
    assert live.status == 200, live  # liveness: the process is fine, do not restart it
    ready, took = _timed(lambda: call("GET", f"{base}/readyz"))
    assert ready.status == 503, ready
    assert ready.body["checks"]["database"] == "unavailable"
    assert took < PROMPT_SECONDS
    slowest = took
    for method, body in (("GET", None), ("POST", worker("李强"))):
        answer, took = _timed(lambda m=method, b=body: call(m, members, token=admin, body=b))
        assert answer.status == 503, answer
        assert set(answer.body) == {"code", "status", "message"}, answer.body
        assert answer.body["code"] == 503
        assert "database" in answer.body["message"]
        assert answer.headers["Retry-After"].isdigit()
        assert took < PROMPT_SECONDS, f"{method} took {took:.1f} s with the database down"
        slowest = max(slowest, took)
    # a zone request (no branch lookup first) is refused the same way
    zone_list = call("GET", f"{base}/api/v1/zone/tenants", token=zone)
    assert zone_list.status == 503, zone_list

    cluster.start()
    accepting = _until(cluster.accepts, seconds=30, what="PostgreSQL to accept connections")
    answered = _until(
        lambda: call("GET", members, token=admin).status == 200,
        seconds=RECOVERY_SECONDS,
        what="the API to answer 200 after PostgreSQL came back",
    )
    recovery = answered - accepting
    print(
        f"outage: slowest 503 in {slowest * 1000:.0f} ms; "
        f"recovery: API 200 {recovery:.2f} s after PostgreSQL accepted connections"
    )
    assert recovery < RECOVERY_SECONDS
    assert call("GET", f"{base}/readyz").status == 200
    # the write refused during the outage changed nothing; a new one works
    listed = call("GET", members, token=admin)
    assert [m["name"] for m in listed.body] == ["王芳"]
    assert call("POST", members, token=admin, body=worker("李强")).status == 201
    # the same processes answered throughout: no worker was restarted
    assert process.poll() is None
    assert _children(process.pid) == workers
