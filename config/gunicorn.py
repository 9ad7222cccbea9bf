"""Gunicorn settings for `make serve` and the container image, which start gunicorn through
`python -m config.serve` (it checks WEB_CONCURRENCY before gunicorn's modules read it).

Logging: gunicorn's error log uses the service's format (LOG_FORMAT); its own access log is
off, because the service writes one access line per request with its request id, user id
and duration (common.middleware.RequestTraceMiddleware), without query strings or headers.

Metrics: prometheus-client in multiprocess mode. Each worker writes its counters to files in
PROMETHEUS_MULTIPROC_DIR and /metrics adds them up; the directory is created here when it is
not set, emptied at start, and a dead worker's live gauges are dropped.
"""

import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gunicorn.glogging import Logger

from common.log import logging_settings  # after the project is on the path
from config import serving

try:
    workers = serving.web_concurrency()
    forwarded_allow_ips = serving.forwarded_allow_ips()
except serving.Refused as refused:
    # Not an exception: gunicorn would print its traceback around the message.
    sys.exit(f"Error: {refused}")
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = None


class ServiceLogger(Logger):
    """gunicorn's logger with its access log off. Given a logging dict, gunicorn counts the
    access log as on whatever `accesslog` says: it wrote a line for every request beside the
    service's own (the request line with its query string, the client's address, the Referer,
    the user agent, a Basic username), and gathered that line's fields, every header included,
    for each request: 0.04 to 0.09 ms of a worker's CPU (docs/decisions.md, Speed). Every
    worker asks this before gathering anything. (A logger class of our own also means
    gunicorn's statsd logger is never chosen for `statsd_host`; metrics are Prometheus's.)"""

    access_log_enabled = False


logger_class = ServiceLogger

# gunicorn's control socket sits at one fixed path per user, so several servers on a machine
# would meet there; nothing here uses it.
control_socket_disable = True
# The service's default format: text under DEBUG (its own lines are text there), else JSON.
_debug = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
logconfig_dict = logging_settings(
    log_format=os.environ.get("LOG_FORMAT", "").strip() or ("text" if _debug else "json"),
    level=os.environ.get("LOG_LEVEL", ""),
)

_created_metrics_dir = []


def on_starting(server) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        folder = tempfile.mkdtemp(prefix="tokenbilling-metrics-")
        _created_metrics_dir.append(folder)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def post_worker_init(worker) -> None:
    """A streamed answer (a long CSV) tells the arbiter it is making progress, rather than
    being killed as silent after `timeout` seconds (common.heartbeat)."""
    from common.heartbeat import heartbeat_install

    heartbeat_install(worker.notify)
    freeze_loaded_objects()


def freeze_loaded_objects() -> None:
    """Takes what the worker loaded (the application, its URL configuration and views, about
    120,000 objects kept for the worker's life) out of the garbage collector's reach. A full
    collection walked all of them, 24 ms on a quiet machine and up to half a second on a busy
    one, every thousand or two requests; the workers answer the same mix, so they reached
    theirs within a second or two of each other and the requests waiting behind them all
    waited (docs/decisions.md, Speed: the tail at 8 connections). Frozen, a full collection
    walks only what requests left behind. Cycles among the loaded objects that become garbage
    later are never collected; what is loaded is kept until the worker exits anyway."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the views' modules before the freeze)
    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    for folder in _created_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)


# Generous enough that the application, not gunicorn, refuses what is too long: it answers in
# JSON (common.middleware: URLs over 4096 characters, headers over 8192, more than 100 of
# them), where gunicorn would answer with an HTML page. Beyond these, gunicorn still refuses.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 200
