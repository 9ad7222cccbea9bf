"""Where a webhook may go: https (or http where private addresses are allowed), a host that
resolves, and never to a private, loopback, link-local or otherwise internal address, unless
WEBHOOK_ALLOW_PRIVATE_URLS=1. Checked when an endpoint is saved, before every delivery, and
by the connection itself (events.transport), because what a name resolves to can change
between a check and a connection."""

from __future__ import annotations

import ipaddress
import queue
import socket
import threading
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(Exception):
    """A host a webhook may not go to; the message says why. Not an OSError, so that urllib3
    and requests let it through instead of retrying or rewording it."""


class ResolutionTimedOut(Exception):
    """The name server did not answer within the time given; the message says so. Not an
    OSError, so that it is not taken for a name that does not resolve."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now (tests may replace this)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _resolve_within(host: str, port: int, timeout: float | None) -> list[str]:
    """`resolve`, waited for at most `timeout` seconds (None: as long as it takes).

    getaddrinfo takes no timeout: the system resolver waits for each name server in turn, as
    long as resolv.conf says (5 s each, twice, by default), and nothing can interrupt it. So
    it runs on a thread of its own that is left to finish alone when the time is up (it
    holds no lock and nothing waits for it). Raises ResolutionTimedOut, or what `resolve`
    raised."""
    if timeout is None:
        return resolve(host, port)
    answers: queue.SimpleQueue = queue.SimpleQueue()

    def run() -> None:
        try:
            answers.put((resolve(host, port), None))
        except Exception as error:
            answers.put((None, error))

    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    try:
        addresses, error = answers.get(timeout=max(timeout, 0))
    except queue.Empty:
        raise ResolutionTimedOut(
            f"The host {host} did not resolve within {timeout:g} seconds."
        ) from None
    if error is not None:
        raise error
    return addresses


def addresses_checked(host: str, port: int, *, timeout: float | None = None) -> list[str]:
    """The addresses `host` resolves to now, when every one of them is global. Raises
    AddressRefused when it does not resolve or one of them is private or internal, and
    ResolutionTimedOut when the name server has not answered within `timeout` seconds."""
    try:
        addresses = _resolve_within(host, port, timeout)
    except (OSError, UnicodeError) as error:
        raise AddressRefused(f"The host {host} does not resolve.") from error
    for address in addresses:
        if not _allowed(ipaddress.ip_address(address.split("%")[0])):
            raise AddressRefused(f"The host {host} resolves to a private or internal address.")
    return addresses


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a gateway or the
# kernel may reach: NAT64's well-known prefix, IPv4-compatible addresses, and IPv4-translated
# ones (RFC 2765, SIIT: a translating gateway takes them to the address inside).
_CARRY_IPV4 = [
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
]
# NAT64 for local use (RFC 8215): translated by this network's own gateway.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global and not multicast, and so is any IPv4 address an IPv6 one carries (mapped,
    6to4, Teredo, NAT64), which Python's `is_global` does not look into."""
    if not ip.is_global or ip.is_multicast:
        return False
    if ip.version == 4:
        return True
    if ip in _LOCAL_NAT64:
        return False
    carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in prefix for prefix in _CARRY_IPV4):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(_allowed(inner) for inner in carried if inner is not None)


URL_MAX_LENGTH = 2000


def url_refusal(url: str, *, timeout: float | None = None) -> str | None:
    """Why this URL may not receive webhooks, or None when it may. With a `timeout`, a name
    server that has not answered within it is a refusal too (for this attempt)."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "The URL cannot be parsed."
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed_schemes:
        return f"The URL must use {' or '.join(sorted(allowed_schemes))}."
    if not parts.hostname or len(url) > URL_MAX_LENGTH or parts.username or parts.password:
        return "The URL needs a host name, no credentials, and at most 2000 characters."
    if allow_private:
        return None
    try:
        addresses_checked(parts.hostname, port, timeout=timeout)
    except (AddressRefused, ResolutionTimedOut) as refusal:
        return str(refusal)
    return None
