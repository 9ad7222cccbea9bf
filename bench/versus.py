"""Consume of this checkout beside consume of an earlier commit, in one run (A-B-B-A).

    .venv/bin/python bench/versus.py <commit> [<path to its checkout>]

The earlier commit is checked out with `git worktree` under bench/results/ (unless a path is
given), each side gets its own fresh database with 50 funded users (through that side's own
bench/prepare.py), and both are served by gunicorn with that side's config/gunicorn.py and 4
workers, on two ports.
Run by hand on a quiet machine; nothing here is a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import BENCH, PYTHON, ROOT, SERVER_ENVIRONMENT, running
from load import Target, compared

ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
USERS = 50


def side(checkout: Path, name: str, port: int) -> tuple[dict, Path]:
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    env = {
        **SERVER_ENVIRONMENT,
        "DATABASE_URL": ADMIN.rsplit("/", 1)[0] + f"/{name}",
        "PATH": "/usr/bin:/bin",
        "DB_STATEMENT_TIMEOUT": "0",
    }
    tokens = BENCH / "results" / f"versus-{name}.txt"
    tokens.parent.mkdir(exist_ok=True)

    def manage(*args: str) -> None:
        subprocess.run([str(PYTHON), "manage.py", *args], cwd=checkout, env=env, check=True)

    manage("migrate", "--noinput", "--verbosity", "0")
    command = (
        "import bench.prepare as m; "
        f"m.ledger_users(users={USERS}, tokens_file={str(tokens)!r}); m.vacuum_analyze()"
    )
    manage("shell", "--command", command)
    env.pop("DB_STATEMENT_TIMEOUT")
    server = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi",
        "--config",
        "config/gunicorn.py",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    return {"command": server, "env": env, "cwd": checkout, "port": port}, tokens


def main() -> None:
    commit = sys.argv[1]
    earlier = Path(sys.argv[2]) if len(sys.argv) > 2 else BENCH / "results" / f"versus-{commit}"
    if not earlier.exists():
        subprocess.run(["git", "worktree", "add", str(earlier), commit], cwd=ROOT, check=True)
    now_side, now_tokens = side(ROOT, "tokenbilling_versus_now", 8096)
    then_side, then_tokens = side(earlier, "tokenbilling_versus_then", 8095)
    with _serving(then_side), _serving(now_side):
        figures = compared(
            Target(
                "/api/v1/user/tokens/consume",
                base="http://127.0.0.1:8096",
                env={"BENCH_TOKENS": str(now_tokens)},
            ),
            Target(
                "/api/v1/user/tokens/consume",
                base="http://127.0.0.1:8095",
                env={"BENCH_TOKENS": str(then_tokens)},
            ),
            connections=32,
        )
    now, then, ratio = figures
    print(json.dumps({"now": now, commit: then, "now_vs_then": ratio["ratio"]}, indent=2))


def _serving(spec: dict):
    return running(
        spec["command"], f"http://127.0.0.1:{spec['port']}", cwd=spec["cwd"], **spec["env"]
    )


if __name__ == "__main__":
    main()
