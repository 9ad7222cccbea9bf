"""Log lines that carry their request, in JSON for machines or plain text for people.

Every line carries the request id and the user id of the request being served, or of the
request given with it (None outside one). Secrets are scrubbed from every line's text and
traceback before it is written, whoever logged it: bearer tokens, JWTs, API keys and webhook
secrets, signatures, passwords, and the credentials of URLs.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty

current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)

# The credentials of a URL (`scheme://user:password@host`, or a token alone as its user): what
# psycopg repeats of a DATABASE_URL it cannot read ('missing "=" after "postgresx://u:pw@..."'),
# or a setting's value quoted in its refusal. Written `scheme://***@host`. A password holds
# whatever should have been percent-encoded (`#`, `?`, `/`, `@`, quotes, `<`, `>`, spaces):
# such a URL is exactly the one that fails and gets quoted. So, in this order:
# - after `user:` and anything but a port, everything up to the line's last `@` (a password
#   `p@ss word` read up to its first `@` or space left `ss word`);
# - after `user:` and a port-like start (`u:1234/x@`), up to the last `@` before a space;
# - after `user:` and anything but a port, with no `@` to follow: the head of a password that
#   psycopg cut at its first space ('"postgresx://u:pa"' of `pa ss`), written `scheme://***`;
# - a user alone, as Python reads a URL (up to the last `@` before the host's `/`, `?`, `#`).
# A line with a URL and a later `@` (an email, a second URL) loses the text between them: a
# log line is better short of some text than long of a password.
# A scheme starts only where a run of scheme characters starts (the run is its scheme, a
# `-` or digit ahead of it too): tried from each word of a path's `/a-a-a-…` (4 KB, anyone's,
# in the access line), the rest of the run was read again from each, a second per request.
_SCHEME = r"(?i)(?<![a-z0-9+.-])([a-z0-9+.-]*://)"
_USER = r"[^\s/?#@:'\"<>\[\]]*:"
_NOT_A_PORT = r"(?!\d+(?![\w@])|[/?#]|$)"
URL_CREDENTIALS = (
    (re.compile(_SCHEME + _USER + _NOT_A_PORT + r"[^\r\n]*@"), r"\1***@"),
    (re.compile(_SCHEME + _USER + r"\S*@"), r"\1***@"),
    (re.compile(_SCHEME + _USER + _NOT_A_PORT + r"[^\s@]+"), r"\1***"),
    (re.compile(_SCHEME + r"[^\s/?#'\"<>]*@"), r"\1***@"),
)


def url_credentials_scrubbed(text: str) -> str:
    """`text` with every URL's user and password written `***`."""
    for pattern, replacement in URL_CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


# What urllib3 writes of a URL it sent to (its warning about an answer whose headers do not
# parse names the whole URL; a retry's names the path): a webhook endpoint's path and query
# string, where a receiver's token sits (`?key=...`, `/hooks/T000/B000/XXXX`). Written as its
# origin and `/…`.
URL_PATH = re.compile(r"(?i)^((?:[a-z][a-z0-9+.-]*://[^\s/?#]*)?)[/?#].*$", re.DOTALL)


def url_path_hidden(value: object) -> object:
    """`value`, if it is a URL or a path, without its path and query string."""
    return URL_PATH.sub(r"\1/…", value) if isinstance(value, str) else value


SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "[redacted jwt]"),
    # Our own webhook secrets are standard base64 (`+`, `/`, `=`), the others URL-safe.
    (
        re.compile(r"\b(tbk|whsec|sk_live|sk_test|rk_live|rk_test|pk_live)_[\w+/=-]+"),
        r"\1_[redacted]",
    ),
    (re.compile(r"\b(v1|v0|t)=[0-9a-fA-F]{16,}"), r"\1=[redacted]"),
    # Standard Webhooks signatures (ours, outgoing): `v1,<base64>`, `v1a,` when asymmetric.
    (re.compile(r"\b(v1a?),[A-Za-z0-9+/]{16,}={0,2}"), r"\1,[redacted]"),
    (
        re.compile(r"(?i)([\"']?(?:password|secret|token|access|refresh)[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,&}]+)"),
        r"\1[redacted]",
    ),
]  # fmt: skip


def redact(text: str) -> str:
    text = url_credentials_scrubbed(text)
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


def request_user_id(request: HttpRequest | None) -> str | None:
    """The signed-in user's id once authentication has run; never a query of its own."""
    if request is None:
        return None
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


def _carried_request(record: logging.LogRecord) -> HttpRequest | None:
    """The request a record was given with `extra`, as Django gives it to its own lines about
    an answer (`django.request`, `django.security`); a DRF request stands for its Django one.
    Django writes its line about an answer a view returned after the middleware has returned,
    outside the request's context, so this is where that line's request is."""
    request = getattr(record, "request", None)
    request = getattr(request, "_request", request)
    return request if isinstance(request, HttpRequest) else None


# What every record has; anything else was given with it (`extra=`) and is written beside it.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RequestContext(logging.Filter):
    """Adds `request_id` and `user_id` to every record, and scrubs secrets (redact: URL
    credentials among them) from its text, its traceback and the text fields given with it
    (the access line's `path` may hold an API key), and the paths of the URLs urllib3 names
    (url_path_hidden). On every handler, JSON or text. A
    request given with the record is written as its method and path: its own text would carry
    the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        carried = _carried_request(record)
        if carried is not None:
            record.request = redact(f"{carried.method} {carried.path}")
        request = current_request.get() or carried
        if request is not None or not hasattr(record, "request_id"):
            record.request_id = getattr(request, "request_id", None)
            record.user_id = request_user_id(request)
        if str(record.name).startswith("urllib3") and isinstance(record.args, tuple):
            record.args = tuple(url_path_hidden(arg) for arg in record.args)
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class SuspiciousRequestAsWarning(logging.Filter):
    """A request Django refuses as suspicious and answers 400 (a host not in ALLOWED_HOSTS, a
    form of more than 1,000 fields or 1 MiB, a multipart body that does not parse) is a
    scanner's, a misrouted proxy's or any client's doing: not a fault of the service. Django
    logs it at ERROR with a traceback on `django.security.<its kind>`, so anyone filled the
    error log and woke whoever alerts on errors; it is written as a one-line WARNING that
    still says what was refused. On the handler: a logger's filter sees only the records of
    that logger itself, and each kind has its own. Left out where warnings are not written
    (LOG_LEVEL=ERROR): the ERROR it was passed the level already."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if (
            record.name.startswith("django.security.")
            and isinstance(status, int)
            and 400 <= status < 500
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
            return logging.getLogger(record.name).isEnabledFor(logging.WARNING)
        return True


class ClientErrorsAsDebug(logging.Filter):
    """Django writes a WARNING line on `django.request` for every 4xx: a client's body that
    does not parse, an expired token's 401, a scanner's 404s. None needs anyone, and a night's
    log was full of them. Each is written at DEBUG (so only with LOG_LEVEL=DEBUG): the access
    line still says it at INFO, and `http_requests_total{status}` counts it. A 5xx is left
    an ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class UnparsedRequestAsInfo(logging.Filter):
    """gunicorn answers 400 by itself to what is not HTTP (a TLS handshake on the plain port,
    a request line or version that does not parse), and wrote each as a WARNING: scanners
    filled a night's log with them. Written at INFO, beside the access lines: no metric
    counts what never reached Django, so the line stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(
            "Invalid request from ip="
        ):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def logging_settings(*, log_format: str, level: str) -> dict[str, Any]:
    """The dictConfig for Django (settings.LOGGING) and gunicorn (its logconfig_dict), from
    LOG_FORMAT and LOG_LEVEL as written in the environment (the level in any case, empty for
    INFO). A value neither knows is refused here, naming it, for both: dictConfig said only
    "Unable to configure logger 'django'" (of `debug` too), and gunicorn a KeyError."""
    log_format = log_format.strip().lower()
    level = level.strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ImproperlyConfigured(
            f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (in any case), not {level!r}."
        )
    formatters = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    }
    if log_format not in formatters:
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {log_format!r}.")
    handler = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["suspicious_request", "request_context"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_context": {"()": RequestContext},
            "suspicious_request": {"()": SuspiciousRequestAsWarning},
            "client_errors": {"()": ClientErrorsAsDebug},
            "unparsed_request": {"()": UnparsedRequestAsInfo},
        },
        "formatters": {log_format: formatters[log_format]},
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # The Stripe SDK logs every request at INFO; its failures still show.
            "stripe": {"level": "WARNING"},
            # urllib3 writes each request it sends at DEBUG with its path and query string: a
            # webhook endpoint's `?key=...` (the seller's token) went to the log under
            # LOG_LEVEL=DEBUG. Its warnings (retries, a full pool, an answer's headers that do
            # not parse) still show, a URL they name as its origin only (RequestContext).
            "urllib3": {"level": "INFO"},
            # Django's own handlers (a plain console one under DEBUG, mail to ADMINS, which are
            # not set) would write its lines a second time, unscrubbed: they come here only.
            "django": {"handlers": [], "level": level},
            # runserver's own line per request; the access line (common.middleware) says it.
            "django.server": {"level": "ERROR", "propagate": True},
            "django.request": {"filters": ["client_errors"]},
            # gunicorn's: its access log is off (config/gunicorn.py), its error log is ours; were
            # anything written to its access logger, it would be JSON and scrubbed all the same.
            "gunicorn.error": {
                "handlers": ["console"],
                "filters": ["unparsed_request"],
                "level": level,
                "propagate": False,
            },
            "gunicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
