"""Django itself: the key, hosts, apps, middleware, templates, databases, the cache, users,
time and static files. DEBUG is read here, and the other parts take it from here."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.caches import cache_settings
from config.databases import default_database
from config.env import env_address, env_bool, env_list, env_seconds

BASE_DIR = Path(__file__).resolve().parent.parent.parent

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
