"""Settings, read from the environment (DJANGO_SETTINGS_MODULE=config.settings).

Production differs from development only by environment variables; README.md lists every one
with its default. The defaults are safe for production (DEBUG off, secure cookies, HTTPS
redirect); `make run` turns DEBUG on for the embedded SQLite setup.

A package of parts, read in this order (a later part may use what an earlier one set):
`base` (Django, the apps, databases, cache, static files), `security` (HTTPS, cookies, CORS,
the pages' Content-Security-Policy), `api` (Django REST framework, the proxies the rate
limits believe, JWT, the schema), `service` (the worker, webhooks, tokens, the seller,
payments, /metrics) and `logs`.
"""

from config.settings.base import *  # noqa: F403, I001 (in this order: a part may use an earlier one)
from config.settings.security import *  # noqa: F403
from config.settings.api import *  # noqa: F403
from config.settings.service import *  # noqa: F403
from config.settings.logs import *  # noqa: F403
