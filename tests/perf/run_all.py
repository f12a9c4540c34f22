"""`make bench`: every benchmark of issue 5 (B1-B7) in turn, each printing its figures beside
their targets and appending them to tests/perf/RESULTS.md; then one summary of every verdict,
each benchmark's time and the run's total, also appended.

PostgreSQL and Redis are required (`make bench` starts them as `.ci/run` does and sets
`PMSC_TEST_DATABASE_URL` / `PMSC_TEST_REDIS_URL` when unset). The `large` zone is loaded once and
kept as a template database for the benchmarks after it (`tests/perf/zone_template.py`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.perf.results import append_results

BENCHMARKS = [
    ("B5 tenant scale", ["tests.perf.bench_tenant_scale"]),
    ("B6 zone reads", ["tests.perf.bench_zone_reads"]),
    ("B2 freshness on large", ["tests.perf.bench_rollup_freshness", "--size", "large"]),
    ("B1 zone recompute", ["tests.perf.bench_rollup"]),
    ("B3 API overhead, B4 isolation cost, B7 memory", ["tests.perf.bench_api"]),
]
# a table row, or a "Target ..." sentence, that carries a verdict: "met", "missed" or "MISSED"
VERDICT = re.compile(r"^(\||Target).*\b(met|missed|MISSED)\b")


def main() -> int:
    for variable in ("PMSC_TEST_DATABASE_URL", "PMSC_TEST_REDIS_URL"):
        if not os.environ.get(variable):
            print(f"make bench needs {variable} (PostgreSQL and Redis)", file=sys.stderr)
            return 2
    started = time.perf_counter()
    summary: list[str] = []
    failed = []
    for title, argv in BENCHMARKS:
        print(f"\n=== {title}: python -m {' '.join(argv)}", flush=True)
        begun = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", *argv], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        verdicts = []
        for line in process.stdout:
            print(line, end="", flush=True)
            if VERDICT.match(line.strip()):
                verdicts.append(line.strip())
        code = process.wait()
        minutes = (time.perf_counter() - begun) / 60
        status = "" if code == 0 else f", FAILED (exit {code})"
        if code:
            failed.append(title)
        summary += [f"**{title}** ({minutes:.1f} min{status}):", "", *verdicts, ""]
    total = (time.perf_counter() - started) / 60
    lines = [
        f"`make bench` end to end: {total:.1f} min. Every row with a verdict, by benchmark "
        "(the full tables are in each benchmark's own section above):",
        "",
        *summary,
    ]
    print("\n=== summary\n" + "\n".join(lines), flush=True)
    append_results("make bench summary (issue 5)", lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
