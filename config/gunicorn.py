"""Gunicorn settings for `make serve` and the container image."""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Generous enough that the application, not gunicorn, refuses what is too long: it answers in
# JSON (common.middleware: URLs over 4096 characters, headers over 8192, more than 100 of
# them), where gunicorn would answer with an HTML page. Beyond these, gunicorn still refuses.
limit_request_line = 8190
limit_request_field_size = 16384
limit_request_fields = 200
