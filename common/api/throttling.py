"""Rate limits as fixed-window counters in the cache, shared by every process with Redis.

DRF's throttles keep the time of every request in the window and pickle that list on every
request, so their cost grows with the rate. These count requests per fixed window instead:
an atomic `incr`, and an `add` to start each window, whatever the rate (Redis' INCR and SET
NX, so every process and machine counts into the same number). A client can spend two
windows' worth across a window boundary, which is acceptable for abuse protection.

When the cache does not answer, requests are let through (failing open: losing the limit
for a while is better than refusing every customer) and that is logged at most once a
minute per process; /health reports it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from functools import lru_cache

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, OSError)
WARNING_INTERVAL = 60.0
_last_warning = {"at": -WARNING_INTERVAL}


# An IPv6 client is given a whole /64 by its provider (RFC 6177) and may use any address in
# it: counted by address, it took a new one for each request and no limit ever held.
IPV6_CLIENT_PREFIX = 64


def client_network(address: str) -> str:
    """What a client address counts as: an IPv6 address its /64 network, an IPv4-mapped one
    its IPv4 address (the same client on a dual-stack socket), one written with a port
    (`192.0.2.7:5678`, `[2001:db8::1]:443`) its address, and anything else as it is."""
    return _network_of(address) or address


# The entries whose network is kept, and up to what length: an address, a port and brackets
# take at most 53 characters (a zone id more); a longer entry is worked out each time, so
# that made-up X-Forwarded-For values keep at most this many short strings per process.
KEPT_NETWORKS = 1024
KEPT_ENTRY_LENGTH = 64


def _network_of(entry: str) -> str | None:
    """client_network of an address, or None for an entry that names none. It depends on
    the text alone, so a short entry's is kept: parsing the same address with ipaddress on
    every anonymous request was 2 % of the public listing's instructions."""
    if len(entry) > KEPT_ENTRY_LENGTH:
        return _parsed_network_of(entry)
    return _kept_network_of(entry)


def _parsed_network_of(entry: str) -> str | None:
    ip = _address_in(entry)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


_kept_network_of = lru_cache(maxsize=KEPT_NETWORKS)(_parsed_network_of)


def _address_in(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an X-Forwarded-For entry names, as it is or as proxies that add the
    client's port write it (an IPv4 address and `:port`, an IPv6 one in brackets with or
    without `:port`): counted as written, each new port was a new client. None when it
    names no address."""
    host = entry.strip()
    if not host:
        # No entry (no proxies, no header, a short chain): the common case. Parsed as an
        # address, it raised twice inside ipaddress: 2.5 % of the public listing's
        # instructions.
        return None
    if host.startswith("["):
        host, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and _is_port(port[1:]))):
            return None
    elif host.count(":") == 1:
        host, port = host.split(":")
        if not _is_port(port):
            return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_port(port: str) -> bool:
    """A port number, in ASCII digits (str.isdigit alone takes "²" and other scripts')."""
    return port.isascii() and port.isdigit()


class FixedWindowRateThrottle(SimpleRateThrottle):
    def get_ident(self, request) -> str:
        """The client's address (REMOTE_ADDR, or the TRUSTED_PROXY_COUNT-th X-Forwarded-For
        entry from the end), counted by its network (client_network). An entry that names
        no address ("unknown", a made-up value) counts as the connecting peer, the proxy,
        one count for all of them: counted as written, each new value was a new limit. So
        does a chain shorter than TRUSTED_PROXY_COUNT: it did not pass every proxy, and DRF
        took its first entry, which the client wrote. And so does a request that connected
        from outside TRUSTED_PROXY_NETWORKS: it came past the proxies, and its header is the
        client's own writing."""
        peer = request.META.get("REMOTE_ADDR") or ""
        proxies = api_settings.NUM_PROXIES
        if proxies == 0 or not _from_a_trusted_proxy(peer, settings.TRUSTED_PROXY_NETWORKS):
            forwarded = ""
        elif proxies is None:
            forwarded = super().get_ident(request) or ""
        else:
            forwarded = _forwarded_entry(request, proxies)
        return _network_of(forwarded) or client_network(peer)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window_start = int(self.now // self.duration) * self.duration
        self.window_end = window_start + self.duration
        counter = f"{self.key}:{window_start}"
        try:
            count = self._count(counter)
        except CACHE_ERRORS:
            _warn_cache_unavailable()
            return True
        return count <= self.num_requests

    def _count(self, counter: str) -> int:
        """One round trip for every request but a window's first: `incr` of a missing
        counter fails, and then `add` starts it (or, when another process was quicker,
        `incr` counts into theirs)."""
        try:
            return self.cache.incr(counter)
        except ValueError:
            if self.cache.add(counter, 1, timeout=self.duration + 1):
                return 1
            return self.cache.incr(counter)

    def wait(self) -> float:
        return max(self.window_end - self.now, 1)


@lru_cache(maxsize=KEPT_NETWORKS)
def _from_a_trusted_proxy(peer: str, networks: tuple) -> bool:
    """Whether the connecting address is in one of `networks` (an IPv4-mapped one as its
    IPv4 address), or there is none: gunicorn bound to a unix socket gives an empty one, and
    only a process on this machine (the proxy) can connect there. Kept per peer: a proxy
    connects from a few addresses."""
    if not peer:
        return True
    ip = _address_in(peer)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _forwarded_entry(request, proxies: int) -> str:
    """The X-Forwarded-For entry the `proxies`-th proxy from us wrote, or "" when there are
    no proxies, no header, or fewer entries than proxies."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if not proxies or forwarded is None:
        return ""
    entries = forwarded.split(",")
    return entries[-proxies] if len(entries) >= proxies else ""


def _warn_cache_unavailable() -> None:
    now = time.monotonic()
    if now - _last_warning["at"] >= WARNING_INTERVAL:
        _last_warning["at"] = now
        logger.warning("The cache does not answer: rate limits are off until it does.")


class AnonThrottle(AnonRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_ANON, per client address."""


class UserThrottle(UserRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_USER, per signed-in user. DRF's own also counts an anonymous client, by
    address, beside AnonThrottle: a second cache round trip on every anonymous request (the
    public listing, say) for a limit THROTTLE_ANON already sets.

    A caller that names another `throttle_scope` (a service's API key: THROTTLE_SERVICE) is
    counted at that rate, in a count of its own: at THROTTLE_USER, one seller's backend
    calling for all of its users had one user's share."""

    def allow_request(self, request, view) -> bool:
        scope = getattr(request.user, "throttle_scope", None)
        if scope is not None and scope != self.scope:
            self.scope = scope
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


class AuthThrottle(ScopedRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_AUTH for views with `throttle_scope = "auth"`, per client address."""


class ForgedWebhookThrottle(FixedWindowRateThrottle):
    """THROTTLE_FORGED_WEBHOOKS: how many deliveries with a bad signature one client address
    may have recorded. The webhooks are never throttled (providers retry), so without it
    anyone could write 10,000 characters a request into the database as fast as they can
    send them."""

    scope = "forged_webhook"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FormThrottle(FixedWindowRateThrottle):
    """THROTTLE_AUTH for the sign-in and sign-up pages, per client address (its own count)."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": "auth-form", "ident": self.get_ident(request)}


class ReceiptThrottle(FixedWindowRateThrottle):
    """THROTTLE_RECEIPTS per signed-in user on the PDF receipt (the pages' and the API's):
    WeasyPrint draws each one anew, a tenth of a second of CPU or more, so a customer asking
    in a loop would hold the workers."""

    scope = "receipt"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SignInThrottle(FixedWindowRateThrottle):
    """THROTTLE_AUTH per account: attempts to sign in as one email address (normalized by the
    caller) count in one counter wherever they are made, the API's login, the sign-in page
    and /admin/login/ (and the password forms' guesses at a signed-in user's current
    password), and from whatever client address, beside the per-address counts of
    AuthThrottle and FormThrottle. The key holds a digest of the email address, not the
    address itself."""

    scope = "auth"

    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email

    def get_cache_key(self, request, view) -> str | None:
        if not self.email:
            return None
        digest = hashlib.sha256(self.email.encode()).hexdigest()
        return self.cache_format % {"scope": "auth-sign-in", "ident": digest}
