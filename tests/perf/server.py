"""Helpers of the HTTP benchmarks: gunicorn servers in subprocesses, the `wrk` load tool and its
Lua scripts, a worker's resident memory from /proc."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
RESULT_MARK = "WRKJSON "


def ensure_wrk() -> str:
    """The path of `wrk`; installs Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        quiet = {"stdout": subprocess.DEVNULL, "env": env}
        installed = subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, **quiet)
        if installed.returncode != 0:  # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update"], check=False, **quiet)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, **quiet)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench_api needs the load tool wrk: install it (Debian: `apt-get install -y wrk`) "
            "and run again"
        )
    return found


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn master (and its workers) in a subprocess of its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as errors:
            # the access log (stdout) is discarded: both servers pay for writing it the same way
            self.process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        """Block until `path` answers 200; raise with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not become ready on {self.url}:\n{tail}")

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes."""
        return sorted(pid for pid in _children(self.process.pid) if _is_alive(pid))

    def cpu_seconds(self) -> float:
        """CPU time (user and system) its workers have used so far."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def stop(self) -> None:
        """Stop the master (gracefully, then by force) and so its workers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def service_server(env: dict[str, str], *, workers: int, log: Path, name: str) -> Server:
    """The service as operators run it: `pmsc serve` (gunicorn with deploy/gunicorn.conf.py)."""
    port = free_port()
    pmsc = Path(sys.executable).with_name("pmsc")
    argv = [str(pmsc), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Server(name, [*argv, "--workers", str(workers)], env, port, log)


def bare_server(env: dict[str, str], *, workers: int, log: Path) -> Server:
    """The baseline app (`tests/perf/bare_app.py`) under the same gunicorn config."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    return Server("bare", [*argv, "tests.perf.bare_app:create_app()"], env, port, log)


def rss_mib(pid: int) -> float:
    """Resident set size of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces: fields are counted after its ')'
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- wrk ------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """One wrk run: completed requests, errors, and latency percentiles (and the server's CPU
    per request, when the caller measures it)."""

    requests: int
    seconds: float
    errors: int  # connect, read, write, timeouts, and answers other than 2xx/3xx
    mean_ms: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


# `done` prints one JSON line we parse; wrk's own text report is only for eyes
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "errors": %d, "mean_us": %f, '
      .. '"p50_us": %d, "p99_us": %d}\\n',
    __MARK__, summary.requests, summary.duration, errors,
    latency.mean, latency:percentile(50), latency:percentile(99)))
end
""".replace("__MARK__", _lua_string(RESULT_MARK))


def fixed_script(authorization: str) -> str:
    """A wrk script: every request the URL's path with this Authorization header."""
    return f'wrk.headers["Authorization"] = {_lua_string(authorization)}\n{_DONE}'


def mixed_script(requests: list[tuple[str, str, str, str | None]], per_thread: int) -> str:
    """A wrk script cycling through `(method, path, authorization, json_body)` requests, each
    thread from its own offset, each thread stopping after `per_thread` answers."""
    rows = []
    for method, path, authorization, body in requests:
        headers = f'{{["Authorization"] = {_lua_string(authorization)}'
        if body is not None:
            headers += ', ["Content-Type"] = "application/json"'
        headers += "}"
        lua_body = _lua_string(body) if body is not None else "nil"
        rows.append(f"  {{{_lua_string(method)}, {_lua_string(path)}, {headers}, {lua_body}}},")
    table = "\n".join(rows)
    return f"""
local requests = {{
{table}
}}
local next_id = 0
setup = function(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
local counter = 0
local answered = 0
request = function()
  local r = requests[(counter + thread_id * 17) % #requests + 1]
  counter = counter + 1
  return wrk.format(r[1], r[2], r[3], r[4])
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= {per_thread} then wrk.thread:stop() end
end
{_DONE}"""


def run_wrk(
    wrk: str,
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 2,
    workdir: Path,
) -> WrkResult:
    """Run wrk against `url` with `script`; the parsed summary."""
    path = workdir / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    path.write_text(script)
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency"]
    argv += ["--timeout", "10s", "-s", str(path), url]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    path.unlink()
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line[len(RESULT_MARK) :])
            return WrkResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"],
                mean_ms=raw["mean_us"] / 1000,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
            )
    raise RuntimeError(
        f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
