"""The cache, which holds the rate limits' counters."""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured
from redis.connection import parse_url as parse_redis_url


def cache_settings(redis_url: str) -> dict:
    """Django's `CACHES`. With REDIS_URL every process and machine counts into the same Redis;
    without it each process counts alone (development only: with N processes a limit lets N
    times the rate through). Short socket timeouts, so a Redis that went away costs a request
    little: the limits then fail open (common.api.throttling).

    Django's Redis cache takes several addresses (the first written to, the others read),
    separated by commas or semicolons. Each is parsed here as redis-py will: it parses them
    only at the first request, and a bad one (no scheme, a port that is not a number) raised
    there, past the limits' failing open, so every request was a 500. Neither the value nor
    redis-py's error is echoed: a `#`, `?` or `/` in the password ends the address early, and
    redis-py's error quoted what came before it as the port, the password's head.
    """
    for address in re.split("[;,]", redis_url) if redis_url else []:
        try:
            parse_redis_url(address.strip())
        except ValueError:
            raise ImproperlyConfigured(
                "REDIS_URL must be a URL such as redis://host:6379/0 (or rediss://, unix://), "
                "its port a number; a `#`, `?` or `/` in its password must be percent-encoded."
            ) from None
    if not redis_url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "tokenbilling",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
