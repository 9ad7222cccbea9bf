"""Settings, read from the environment.

Production differs from development only by environment variables; README.md lists every one
with its default. The defaults are safe for production (DEBUG off, secure cookies, HTTPS
redirect); `make run` turns DEBUG on for the embedded SQLite setup.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from catalog.currencies import currency_refusal
from common.log import logging_settings
from config.caches import cache_settings
from config.content_security import PAGES_CONTENT_SECURITY_POLICY
from config.databases import default_database
from config.env import (
    env_address,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_seconds,
)
from config.schema import SCHEMA_SETTINGS

BASE_DIR = Path(__file__).resolve().parent.parent

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
    # Content-Security-Policy on the pages' and the admin's HTML, outside every layer that
    # can answer with a page (busy, CSRF failure); passed by under /api/ (WebOnly).
    "common.middleware.ContentSecurityPolicyMiddleware",
    "common.middleware.ApiMiddleware",
    "common.outage_middleware.DatabaseBusyMiddleware",
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

# Databases (config/databases.py). PostgreSQL through psycopg 3 when DATABASE_URL is set;
# otherwise the embedded SQLite file.
# Nothing waits forever: a statement that waits on a lock longer than DB_LOCK_TIMEOUT, or runs
# longer than DB_STATEMENT_TIMEOUT (seconds; 0 turns one off), is cancelled, and the request
# answers 503 `busy` (common.db.database_busy). README.md: "Timeouts".
DB_LOCK_TIMEOUT = env_seconds("DB_LOCK_TIMEOUT", 3)
DB_STATEMENT_TIMEOUT = env_seconds("DB_STATEMENT_TIMEOUT", 15)
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
DATABASES = {
    "default": default_database(
        url=DATABASE_URL,
        lock_timeout=DB_LOCK_TIMEOUT,
        statement_timeout=DB_STATEMENT_TIMEOUT,
        base_dir=BASE_DIR,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The rate limits' counters: in Redis with REDIS_URL, else each process alone (config/caches.py).
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
CACHES = cache_settings(REDIS_URL)

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
    # in front, whose X-Forwarded-For entries then name the client (only of a request that
    # connected from TRUSTED_PROXY_NETWORKS). Left unset, DRF counted by the whole
    # X-Forwarded-For header, which any client writes: a new value, a new limit.
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0, maximum=10),
    "EXCEPTION_HANDLER": "accounts.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "common.api.schema.ApiAutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    # `?format=csv` is the history export's own parameter, not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Where the proxies of TRUSTED_PROXY_COUNT connect from: X-Forwarded-For is believed only of a
# request from one of these. A client that reached the service directly, from anywhere else,
# wrote its own header and counts as the address it connected from: it named a new address
# of its own on every request and met no limit. Loopback and the private networks by
# default, where a proxy in front of the service connects from.
TRUSTED_PROXY_NETWORKS = env_networks(
    "TRUSTED_PROXY_NETWORKS",
    ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
)

SIMPLE_JWT = {
    # Short, because authentication trusts the token's claims without reading the user
    # (accounts.authentication.Caller): a deactivated user's access ends within this.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = SCHEMA_SETTINGS

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
# Idempotent-Replayed: a retried POST tells the SPA its answer is the first one given again.
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Content-Disposition", "Idempotent-Replayed"]

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
# Where Stripe's Checkout Sessions send the customer (their `url`): the pages' form-action
# allows it, for Buy redirects there after its POST (ContentSecurityPolicyMiddleware).
STRIPE_CHECKOUT_ORIGIN = env_address("STRIPE_CHECKOUT_ORIGIN", "https://checkout.stripe.com")
# The `test` payment provider: a checkout page of this server that pays without money.
# For `make run` and demos only; `check --deploy` warns while it is on.
PAYMENTS_TEST_MODE = env_bool("PAYMENTS_TEST_MODE", False)

CONTENT_SECURITY_POLICY = PAGES_CONTENT_SECURITY_POLICY

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
