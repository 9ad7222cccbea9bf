"""wrk against a running server, and the CPU each request cost the server, the database and
wrk: the figures every scenario of `make bench` reports."""

from __future__ import annotations

import os
import re
import resource
import subprocess
from dataclasses import dataclass, field

from harness import BASE, BENCH, DURATION, SERVER_GROUPS

LATENCY = re.compile(r"^\s+(50|75|90|99)(?:\.\d+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    path: str,
    *,
    connections: int,
    base: str = BASE,
    script: str | None = None,
    env: dict | None = None,
    duration: str = DURATION,
):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}", "--latency"]
    if script:
        command += ["-s", str(BENCH / "wrk" / script)]
    # The script fills `{user}` in per request; the URL wrk parses needs a plain path.
    command.append(base + path.replace("{user}", "user"))
    if script:
        env = {**(env or {}), "BENCH_PATH": path}
    group = SERVER_GROUPS.get(base)
    before = (*cpu_seconds(group), _children_cpu_seconds())
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True
    )
    after = (*cpu_seconds(group), _children_cpu_seconds())
    spent = {
        who: used_after - used_before
        for who, used_after, used_before in zip(
            ("server", "database", "wrk"), after, before, strict=True
        )
    }
    if group is None:
        del spent["server"]
    output = result.stdout
    requests_per_second = float(_wrk_figure(r"Requests/sec:\s+([\d.]+)", output))
    percentiles = {
        f"p{p}_ms": round(float(value) * UNITS_MS[unit], 2)
        for p, value, unit in LATENCY.findall(output)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(_wrk_figure(r"(\d+) requests in", output))
    return {
        "requests_per_second": round(requests_per_second, 1),
        **percentiles,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "requests": requests,
        "connections": connections,
        **_cpu_per_request(spent, requests),
    }


def cpu_seconds(group: int | None) -> tuple[float, float]:
    """CPU seconds spent so far by the server's process group (gunicorn's master and workers)
    and by PostgreSQL on this machine (its backends, and its checkpointer and WAL writer,
    which work for the load too; anything else using it meanwhile is counted as well). Read
    from /proc: the whole processes, kernel time included, and with each process the time
    of its children that ended: a backend whose connection closed during the run (the
    servers' connections last CONN_MAX_AGE) is counted by the postmaster."""
    ticks = os.sysconf("SC_CLK_TCK")
    server = database = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                name, _, rest = stat.read().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        # utime, stime, and the same of its children that ended (proc(5): fields 14 to 17).
        used = sum(int(value) for value in fields[11:15])
        if group is not None and int(fields[2]) == group:
            server += used
        elif name.endswith("(postgres"):
            database += used
    return server / ticks, database / ticks


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _cpu_per_request(spent: dict[str, float], requests: int) -> dict:
    """The CPU a request cost the server, the database and wrk itself, in ms: where a ratio's
    difference is spent. The three share the machine's cores, so at full load they add up to
    about the cores' time per request."""
    if requests == 0:
        return {}
    return {f"{who}_cpu_ms": round(1000 * seconds / requests, 2) for who, seconds in spent.items()}


def _wrk_figure(pattern: str, output: str) -> str:
    found = re.search(pattern, output)
    if found is None:
        raise RuntimeError(f"wrk's report has no {pattern!r}:\n{output}")
    return found.group(1)


@dataclass(frozen=True)
class Target:
    """What wrk asks for: a path on a server, with bench/wrk/request.lua's environment."""

    path: str
    base: str = BASE
    env: dict = field(default_factory=dict)
    script: str = "request.lua"


def compared(project: Target, reference: Target, *, connections: int) -> tuple:
    """An endpoint and its reference (the floor, or another endpoint), warmed up, then
    measured A-B-B-A and averaged per side, so neither profits from running second (warm
    caches) or suffers from a checkpoint. Each side's `requests` counts every request sent
    to it, the warm-up's too."""
    warm_ups = [_wrk_target(side, connections, duration="3s") for side in (project, reference)]
    runs: list[list[dict]] = [[], []]
    for side in (0, 1, 1, 0):
        runs[side].append(_wrk_target((project, reference)[side], connections))
    endpoint, floor_figures = _average(runs[0]), _average(runs[1])
    for figures, warm_up in zip((endpoint, floor_figures), warm_ups, strict=True):
        figures["requests"] += warm_up["requests"]
    ratio = round(endpoint["requests_per_second"] / floor_figures["requests_per_second"], 2)
    return endpoint, floor_figures, {"ratio": ratio}


def _wrk_target(target: Target, connections: int, duration: str = DURATION) -> dict:
    return wrk(
        target.path,
        base=target.base,
        connections=connections,
        script=target.script,
        env={**target.env, "BENCH_PATH": target.path},
        duration=duration,
    )


def _average(measurements: list[dict]) -> dict:
    averaged = {}
    # A run that got no answer has no CPU per request: the others' figures stand.
    keys = dict.fromkeys(key for measurement in measurements for key in measurement)
    for key in keys:
        values = [measurement[key] for measurement in measurements if key in measurement]
        counted = key in ("non_2xx", "requests")
        digits = 2 if key.endswith("_cpu_ms") else 1
        averaged[key] = sum(values) if counted else round(sum(values) / len(values), digits)
    return averaged


def compare_into(
    results: dict, name: str, project: Target, reference: Target, *, connections: int = 32
) -> None:
    """Measures `project` beside `reference` and prints the line the note quotes: rates,
    ratio, p99 and each side's CPU per request, so a ratio is never read without its cause."""
    endpoint, floor_figures, ratio = compared(project, reference, connections=connections)
    results[name] = endpoint
    results[f"{name}_reference"] = floor_figures
    results[f"{name}_ratio"] = ratio
    print(
        f"{name}: {endpoint['requests_per_second']} vs {floor_figures['requests_per_second']} "
        f"req/s = {ratio['ratio']}; p99 {endpoint['p99_ms']} vs {floor_figures['p99_ms']} ms; "
        "CPU per request, server + database: "
        f"{cpu_figure(endpoint)} vs {cpu_figure(floor_figures)} ms",
        flush=True,
    )


def cpu_figure(figures: dict) -> str:
    return f"{figures.get('server_cpu_ms', '-')} + {figures.get('database_cpu_ms', '-')}"
