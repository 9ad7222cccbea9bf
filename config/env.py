"""Reading settings from the environment: each value checked at start, a bad one refused with
ImproperlyConfigured naming its variable, rather than met by the first request it breaks."""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from common.log import url_credentials_scrubbed

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
        # Quoted without its credentials: the error is logged (gunicorn's worker).
        raise ImproperlyConfigured(
            f"{name} must be an address such as https://billing.example.com (http or https, "
            f"a host, an optional port, no path), not {url_credentials_scrubbed(raw)!r}."
        )
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(
    name: str, default: tuple[str, ...]
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """IP networks (or single addresses), comma-separated: checked at start, naming the
    variable, for an entry that names none would trust nothing, or what was not meant."""
    entries = env_list(name, list(default))
    try:
        return tuple(ipaddress.ip_network(entry) for entry in entries)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be IP addresses or networks (10.0.0.0/8, no host bits), "
            f"comma-separated, not {os.environ.get(name, '')!r}."
        ) from None
