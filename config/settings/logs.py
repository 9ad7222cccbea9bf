"""Logging: to standard error, JSON or text, scrubbed (common/log.py)."""

from __future__ import annotations

import logging
import os

from common.log import logging_settings
from config.settings.base import DEBUG

# Logs go to standard error: one JSON object a line (LOG_FORMAT=json, the default without
# DEBUG) or readable text (make run). common/log.py; gunicorn logs the same way.
# Both are checked there (a bad one is refused at start).
LOGGING = logging_settings(
    log_format=os.environ.get("LOG_FORMAT", "").strip() or ("text" if DEBUG else "json"),
    level=os.environ.get("LOG_LEVEL", ""),
)
# Python's warnings become log lines too (logger `py.warnings`), in the same format.
logging.captureWarnings(True)
