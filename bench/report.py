"""What `make bench` prints at the end of a run and the file it leaves for the notes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from harness import BENCH


def print_table(results: dict) -> None:
    """One row per measured scenario, project and floor beside each other, and a warning when
    answers other than 2xx mean a row measured some other path than the one it names."""
    print(
        f"\n{'scenario':<44}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'CPU ms per request: server':>29}{'database':>10}{'wrk':>6}"
    )
    for name, figures in results.items():
        if "requests_per_second" in figures:
            print(
                f"{name:<44}{figures['requests_per_second']:>10}{figures.get('p50_ms', '-'):>9}"
                f"{figures.get('p99_ms', '-'):>9}{figures['non_2xx']:>9}"
                f"{figures.get('server_cpu_ms', '-'):>29}{figures.get('database_cpu_ms', '-'):>10}"
                f"{figures.get('wrk_cpu_ms', '-'):>6}"
            )
        else:
            print(f"{name:<44}{json.dumps(figures)}")
    refused = [name for name, figures in results.items() if figures.get("non_2xx")]
    if refused:
        print(f"\nWARNING: answers other than 2xx in {', '.join(refused)}: not the path measured")


def write_results(results: dict) -> Path:
    """bench/results/<UTC timestamp>.json, with the machine's core count beside the figures."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    return out
