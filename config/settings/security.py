"""HTTPS, cookies, HSTS and framing; which other origins may call the API (CORS); the
pages' Content-Security-Policy."""

from __future__ import annotations

from corsheaders.defaults import default_headers

from config.content_security import PAGES_CONTENT_SECURITY_POLICY
from config.env import env_bool, env_int, env_list
from config.settings.base import DEBUG

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

# CORS (django-cors-headers): an SPA served from another origin may call the API. No origin is
# allowed unless listed (`https://app.example.com`, comma-separated); only /api/ answers them,
# with bearer tokens, never cookies.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
# If-None-Match and ETag: the listings answer 304 to their ETag sent back, which an SPA on
# another origin can only do when it may read the one and send the other.
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "x-request-id", "if-none-match")
# Idempotent-Replayed: a retried POST tells the SPA its answer is the first one given again.
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "Content-Disposition",
    "Idempotent-Replayed",
    "ETag",
]

CONTENT_SECURITY_POLICY = PAGES_CONTENT_SECURITY_POLICY
