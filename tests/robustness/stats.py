"""The robustness suites' counters, printed at the end of the run (`pytest_terminal_summary`)
and written to `robustness-summary.txt` under pytest's base temporary directory."""

from __future__ import annotations

import os
from collections import Counter

# the quick mode runs in `make test`; `make test-long` sets PMSC_TEST_LONG=1 (exhaustive mode)
LONG = os.environ.get("PMSC_TEST_LONG", "") not in ("", "0")

STATS: Counter[str] = Counter()
# what a finding was, one line each: "5xx POST /api/v1/... (sqlite): ..." and "leak ..."
FINDINGS: list[str] = []

ORDER = (
    "operations fuzzed",
    "requests sent",
    "objects probed across tenants",
    "leaks found",
    "5xx found",
    "bad-input cases",
    "writes audited",
    "rls tables probed",
)


def summary_lines() -> list[str]:
    """The counters as lines, known ones first."""
    if not STATS:
        return []
    keys = [*ORDER, *sorted(set(STATS) - set(ORDER))]
    lines = [f"{key}: {STATS[key]}" for key in keys]
    lines += [f"finding: {line}" for line in FINDINGS]
    return lines
