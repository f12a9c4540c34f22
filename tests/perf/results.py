"""Appends a benchmark's figures to tests/perf/RESULTS.md with date, machine and versions."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        postgres = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        postgres = "psql not found"
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"SQLAlchemy {version('sqlalchemy')}, Flask {version('flask')}, {postgres}"
    )


def append_results(title: str, lines: list[str]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"## {title} — {stamp}", "", f"Machine: {machine()}", "", *lines, ""]
    with RESULTS.open("a") as out:
        if out.tell() == 0:
            out.write("# Benchmark results\n\nEach run appends; newest last.\n\n")
        out.write("\n".join(block) + "\n")
