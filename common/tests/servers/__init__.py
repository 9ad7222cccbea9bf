"""Real servers for tests: gunicorn running this project, redis-server and PgBouncer.

Each listens on a free loopback port with its own files in a temporary directory and is
stopped at the end. `make test` installs redis-server and pgbouncer (Debian) when missing.
"""

from common.tests.servers.gunicorn_servers import Gunicorn, gunicorn, gunicorn_routed
from common.tests.servers.postgres import (
    database_url,
    pgbouncer,
    the_test_database,
    workers_waiting_on_a_lock,
)
from common.tests.servers.processes import PROJECT, binary, free_port
from common.tests.servers.redis_servers import Redis, redis_server

__all__ = [
    "PROJECT",
    "Gunicorn",
    "Redis",
    "binary",
    "database_url",
    "free_port",
    "gunicorn",
    "gunicorn_routed",
    "pgbouncer",
    "redis_server",
    "the_test_database",
    "workers_waiting_on_a_lock",
]
