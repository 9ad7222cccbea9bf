"""The API: Django REST framework (authentication, rates, errors, the schema), the proxies
whose X-Forwarded-For the rates believe, and the JWT's lifetimes."""

from __future__ import annotations

from datetime import timedelta

from config.env import env_int, env_networks, env_rate
from config.schema import SCHEMA_SETTINGS

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
        # Per API key: one seller's backend calls for all of its users.
        "service": env_rate("THROTTLE_SERVICE", "12000/minute"),
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
