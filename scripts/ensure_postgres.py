"""Make sure the PostgreSQL that the tests use answers, starting the local cluster if needed.

Exits 1 with one sentence saying how to provide a server when none can be reached.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import psycopg

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tokenbilling"


def server_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        # The maintenance database exists on every server; the test database may not yet.
        with psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password,
            dbname="postgres",
            connect_timeout=3,
        ):
            return True
    except psycopg.OperationalError:
        return False


def start_local_cluster() -> None:
    versions = sorted(os.path.basename(path) for path in glob.glob("/etc/postgresql/*"))
    if not versions:
        return
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False,
        capture_output=True,
    )


def main() -> int:
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if server_answers(url):
        return 0
    if urlsplit(url).hostname in {"127.0.0.1", "localhost", None}:
        start_local_cluster()
        for _ in range(20):
            if server_answers(url):
                return 0
            time.sleep(0.5)
    print(
        f"No PostgreSQL answers at {urlsplit(url).netloc}: start one (for the local cluster: "
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
        "DATABASE_URL=postgres://user@host:port/dbname to a server you can reach.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
