"""The variables gunicorn's settings read, checked: a value gunicorn would stop on with a
traceback that names neither the variable nor what it may be, or take for something else,
is refused naming both. Imports nothing of gunicorn: `config.serve` checks them before
gunicorn's own modules load, and `config/gunicorn.py` reads them through here too."""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
from collections.abc import Mapping


class Refused(ValueError):
    """A variable's value that gunicorn cannot use; the message names the variable."""


def web_concurrency(environ: Mapping[str, str] = os.environ) -> int:
    """Worker processes: a whole number above 0; empty or unset is 2 x CPUs + 1."""
    value = environ.get("WEB_CONCURRENCY", "").strip()
    if not value:
        return multiprocessing.cpu_count() * 2 + 1
    if not value.isdigit() or int(value) < 1:
        raise Refused(
            f"WEB_CONCURRENCY must be a whole number of worker processes above 0 "
            f"(or empty: 2 x CPUs + 1), not {value!r}."
        )
    return int(value)


def forwarded_allow_ips(environ: Mapping[str, str] = os.environ) -> str:
    """The proxies whose X-Forwarded-* headers gunicorn trusts: addresses or networks,
    comma-separated, or `*`; empty or unset is 127.0.0.1."""
    value = environ.get("FORWARDED_ALLOW_IPS", "").strip()
    if not value:
        return "127.0.0.1"
    entries = [entry.strip() for entry in value.split(",")]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry)
        except ValueError:
            raise Refused(
                "FORWARDED_ALLOW_IPS must be IP addresses or networks (10.0.0.0/8, no host "
                f"bits), comma-separated, or *, not {entry!r}."
            ) from None
    return ",".join(entries)
