"""The floor: a bare Django + DRF app that the project is measured against (issue 14).

No middleware, no authentication, no throttling: only what any Django JSON endpoint on this
machine must pay. Served by gunicorn with the project's own settings (config/gunicorn.py,
the same number of workers) against the same PostgreSQL database, with persistent
connections as long as the project's.
"""

import os

import dj_database_url

SECRET_KEY = "bench-floor-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["rest_framework"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.floorapp.urls"
WSGI_APPLICATION = "bench.floorapp.wsgi.application"
USE_TZ = True
DATABASES = {
    "default": dj_database_url.parse(
        os.environ["DATABASE_URL"], conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60"))
    )
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
