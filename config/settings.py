"""Settings, read from the environment.

Production differs from development only by environment variables; README.md lists every one
with its default. The defaults are safe for production (DEBUG off, secure cookies, HTTPS
redirect); `make run` turns DEBUG on for the embedded SQLite setup.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as parse_redis_url

from catalog.currencies import currency_refusal
from common.log import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0 or true/false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    """A whole number within its bounds: a value out of them is refused at start, not met by
    the first request it breaks (a trial of 10**11 days made every sign-up a 500)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(
            f"{name} must be a whole number from {minimum} to {maximum}, not {raw!r}."
        )
    return value


def env_rate(name: str, default: str) -> str:
    """A throttle rate as DRF reads it, "<requests>/<second|minute|hour|day>": checked at
    start, for DRF would raise on every request."""
    raw = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 300/minute (per second, minute, hour or day), "
            f"not {raw!r}."
        )
    return raw


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1
    if not 0 <= seconds < 86_400:
        raise ImproperlyConfigured(f"{name} must be seconds from 0 to 86399, not {raw!r}.")
    return seconds


def env_address(name: str, default: str) -> str:
    """An http(s) address of a site, `https://host[:port]`, without a path: checked at start,
    for one without a scheme was taken as it was and every address built on it was refused
    later, by Stripe (every checkout a 502) or by whatever it named."""
    raw = os.environ.get(name, "").strip().rstrip("/") or default
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        parts = parts._replace(netloc="")
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or raw != (f"{parts.scheme}://{parts.netloc}")
    ):
        raise ImproperlyConfigured(
            f"{name} must be an address such as https://billing.example.com (http or https, "
            f"a host, an optional port, no path), not {raw!r}."
        )
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it in the environment (it is required when DEBUG=0)."
        )
    SECRET_KEY = "django-insecure-development-only-do-not-deploy"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
SITE_URL = env_address("SITE_URL", "http://127.0.0.1:8000")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "common",
    "accounts",
    "catalog",
    "billing",
    "tokens",
    "events",
    "jobs",
    "pages",
]

MIDDLEWARE = [
    "common.middleware.RequestTraceMiddleware",
    # Before the host check (CommonMiddleware) and the SSL redirect: probes come by address.
    "common.middleware.HealthProbeMiddleware",
    # Before anything that can answer (ApiMiddleware's 413/414, CommonMiddleware), so that a
    # preflight and every answer to an allowed origin carry the CORS headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "common.middleware.ApiMiddleware",
    "common.middleware.DatabaseBusyMiddleware",
    # Sessions, the session's user and messages serve the pages only: passed by under /api/
    # (common.middleware.WebOnly).
    "common.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "common.middleware.PagesMiddleware",
    "common.middleware.AuthenticationMiddleware",
    "common.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pages.context_processors.header_balance",
            ],
        },
    },
]

# Databases. PostgreSQL through psycopg 3 when DATABASE_URL is set; otherwise the embedded
# SQLite file. PostgreSQL connections are persistent with a health check before reuse
# (docs/decisions.md explains why this and not a pool).
# Nothing waits forever: a statement that waits on a lock longer than DB_LOCK_TIMEOUT, or runs
# longer than DB_STATEMENT_TIMEOUT (seconds; 0 turns one off), is cancelled, and the request
# answers 503 `busy` (common.db.database_busy). README.md: "Timeouts".
DB_LOCK_TIMEOUT = env_seconds("DB_LOCK_TIMEOUT", 3)
DB_STATEMENT_TIMEOUT = env_seconds("DB_STATEMENT_TIMEOUT", 15)
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    _default_database = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
else:
    _default_database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SQLITE_PATH") or BASE_DIR / "db.sqlite3",
    }
if _default_database["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so a transaction that reads then writes cannot
    # be overtaken: SQLite's twin of PostgreSQL's row locks.
    # Tests get a file of their own beside it (not SQLite's default, memory), so they take
    # the same file locks as `make run`.
    _default_database["TEST"] = {"NAME": f"{_default_database['NAME']}-test"}
    # Its busy timeout is the lock timeout (SQLite has no statement timeout).
    _default_database["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": DB_LOCK_TIMEOUT or 86_400,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # common.postgresql: Django's backend with both timeouts on every statement, also behind
    # PgBouncer in transaction pooling, where they are set per transaction.
    _default_database["ENGINE"] = "common.postgresql"
    _default_database["TIMEOUTS"] = {
        "lock_timeout": round(DB_LOCK_TIMEOUT * 1000),
        "statement_timeout": round(DB_STATEMENT_TIMEOUT * 1000),
    }
    _options = _default_database.setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", 5)
    # pg_stat_activity then names the process behind each connection (gunicorn loads the
    # settings in each worker, after the fork).
    _options.setdefault("application_name", f"tokenbilling:{os.getpid()}")
    # Parameters bound by the server, and a statement prepared on a connection once it has run
    # five times there (psycopg's default threshold): PostgreSQL then parses and plans the
    # hot statements once per connection, not once per request. Django's default binds them
    # into the SQL text in Python, and the server parsed and planned every request's
    # statements anew (docs/decisions.md, Speed: the balance 1,462 → 1,801 rps).
    _options.setdefault("server_side_binding", True)
    _options.setdefault("prepare_threshold", 5)
    _default_database["TRANSACTION_POOLING"] = env_bool("DB_TRANSACTION_POOLING", False)
    if _default_database["TRANSACTION_POOLING"]:
        # Behind PgBouncer in transaction pooling, consecutive transactions may run on
        # different server connections: nothing may live in a session. Server-side cursors
        # outlive a transaction when autocommit is on; prepared statements live in a session
        # too, so common.postgresql makes none there (each statement still binds its
        # parameters on the server, in one unnamed statement, which transaction pooling
        # carries).
        _default_database["DISABLE_SERVER_SIDE_CURSORS"] = True
DATABASES = {"default": _default_database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the rate limits' counters. With REDIS_URL every process and machine counts
# into the same Redis; without it each process counts alone (development only: with N
# processes a limit lets N times the rate through). Short socket timeouts, so a Redis that
# went away costs a request little: the limits then fail open (common.api.throttling).
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Django's Redis cache takes several addresses (the first written to, the others read),
# separated by commas or semicolons. Each is parsed here as redis-py will: it parses them only
# at the first request, and a bad one (no scheme, a port that is not a number) raised there,
# past the limits' failing open, so every request was a 500. The value is not echoed: it may
# hold a password.
for _redis_address in re.split("[;,]", REDIS_URL) if REDIS_URL else []:
    try:
        parse_redis_url(_redis_address.strip())
    except ValueError as error:
        raise ImproperlyConfigured(
            f"REDIS_URL must be a URL such as redis://host:6379/0 (or rediss://, unix://): {error}"
        ) from None
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tokenbilling",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "pages:sign-in"
LOGIN_REDIRECT_URL = "pages:home"
LOGOUT_REDIRECT_URL = "pages:sign-in"
CSRF_FAILURE_VIEW = "pages.errors.csrf_failure"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Request bodies above 1 MiB are refused with 413 before anything reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Security. Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.AccessTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "common.api.negotiation.RememberedNegotiation",
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.DecimalJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "common.api.throttling.AnonThrottle",
        "common.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("THROTTLE_ANON", "300/minute"),
        "user": env_rate("THROTTLE_USER", "1200/minute"),
        "auth": env_rate("THROTTLE_AUTH", "10/minute"),
        "refresh": env_rate("THROTTLE_REFRESH", "30/minute"),
        "invalid_refresh": env_rate("THROTTLE_INVALID_REFRESH", "60/minute"),
        "forged_webhook": env_rate("THROTTLE_FORGED_WEBHOOKS", "60/minute"),
        "receipt": env_rate("THROTTLE_RECEIPTS", "20/minute"),
    },
    # Rates count per client address: REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand
    # in front, whose X-Forwarded-For entries then name the client. Left unset, DRF counted
    # by the whole X-Forwarded-For header, which any client writes: a new value, a new limit.
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0, maximum=10),
    "EXCEPTION_HANDLER": "common.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "common.api.schema.ApiAutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    # `?format=csv` is the history export's own parameter, not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    # Short, because authentication trusts the token's claims without reading the user
    # (accounts.authentication.Caller): a deactivated user's access ends within this.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Token billing API",
    "DESCRIPTION": "Prepaid token bundles, plans and add-ons. The contract is docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Ids in paths: a UUID in either case (common.converters), described as Django's `uuid`.
    "PATH_CONVERTER_OVERRIDES": {"anyuuid": {"type": "string", "format": "uuid"}},
    "ENUM_NAME_OVERRIDES": {
        "BillingPeriodEnum": "catalog.models.BillingPeriod",
        "PlanBillingPeriodEnum": "catalog.models.PLAN_PERIOD_CHOICES",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "ItemStatusEnum": "billing.models.ItemStatus",
        "PurchaseStatusEnum": "billing.models.TokenBundlePurchase.Status",
        "WebhookStatusEnum": [("success", "success"), ("already_processed", "already_processed")],
        "LotCategoryEnum": "tokens.models.LotCategory",
        "GrantCategoryEnum": "tokens.services.lots.GRANTABLE",
        "PaymentProviderEnum": "billing.models.Invoice.Provider",
        "PayProviderEnum": [("stripe", "stripe"), ("test", "test")],
    },
}

# The worker (`manage.py worker`): deliveries and scheduled sweeps, queued in the database.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "deliveries"],
    }
}

# Outgoing webhooks. Private, loopback and link-local addresses (and plain http) only when
# WEBHOOK_ALLOW_PRIVATE_URLS=1: tests and local setups.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
# A delivery taken by a worker that dies is taken again after this (at least once).
# Keep it longer than an attempt may last (10 s, events.dispatch.sending.TIMEOUT_SECONDS): another
# worker takes a delivery whose lease lapsed (its own dispatcher never sends one twice).
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60, minimum=1, maximum=3600)
# Events, their deliveries and attempts are deleted this many days after the event, once
# every delivery has finished (the worker's daily purge).
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# A user's balance falling below this sends `tokens.low_balance` (their own setting wins;
# 0 turns it off).
LOW_BALANCE_THRESHOLD = env_int("LOW_BALANCE_THRESHOLD", 100)

# Tokens: the trial every sign-up gets (TRIAL_TOKENS=0 disables it).
TRIAL_TOKENS = env_int("TRIAL_TOKENS", 3)
TRIAL_DAYS = env_int("TRIAL_DAYS", 30, minimum=1, maximum=3650)

# CORS (django-cors-headers): an SPA served from another origin may call the API. No origin is
# allowed unless listed (`https://app.example.com`, comma-separated); only /api/ answers them,
# with bearer tokens, never cookies.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "x-request-id")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Content-Disposition"]

# Who sells: printed on PDF receipts.
SELLER_NAME = os.environ.get("SELLER_NAME", "Token billing")
SELLER_ADDRESS = os.environ.get("SELLER_ADDRESS", "")
SELLER_EMAIL = os.environ.get("SELLER_EMAIL", "")
SELLER_TAX_ID = os.environ.get("SELLER_TAX_ID", "")

# Money and payments.
# The first migration creates it (catalog 0002); refused here rather than by that migration's
# CHECK error (EURO) or, for a currency of 3 places (KWD), by prices rounded to 2.
DEFAULT_CURRENCY = os.environ.get("DEFAULT_CURRENCY", "").strip().upper() or "USD"
if (_currency_refused := currency_refusal(DEFAULT_CURRENCY)) is not None:
    raise ImproperlyConfigured(f"DEFAULT_CURRENCY {_currency_refused}.")
PAYMENT_WEBHOOK_SECRETS = env_list("PAYMENT_WEBHOOK_SECRET", [])
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_address("STRIPE_API_BASE", "https://api.stripe.com")
# The `test` payment provider: a checkout page of this server that pays without money.
# For `make run` and demos only; `check --deploy` warns while it is on.
PAYMENTS_TEST_MODE = env_bool("PAYMENTS_TEST_MODE", False)

# /metrics answers loopback clients, and others that send `Authorization: Bearer <this>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# Logs go to standard error: one JSON object a line (LOG_FORMAT=json, the default without
# DEBUG) or readable text (make run). common/log.py; gunicorn logs the same way.
# Both are checked there (a bad one is refused at start).
LOGGING = logging_settings(
    log_format=os.environ.get("LOG_FORMAT", "").strip() or ("text" if DEBUG else "json"),
    level=os.environ.get("LOG_LEVEL", ""),
)
# Python's warnings become log lines too (logger `py.warnings`), in the same format.
logging.captureWarnings(True)
