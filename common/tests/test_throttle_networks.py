"""A client counts by its network where one client holds many addresses: an IPv6 client is
given a /64 (2^64 addresses) by its provider, so counted by the address it took a new one
for each request and was never limited."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client, RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from common.api import throttling
from common.api.throttling import AuthThrottle, client_network

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]

REGISTER = "/api/v1/auth/register"
PASSWORD = "correct-horse-battery-9"


def _register(client, attempt: int, **address) -> int:
    body = {"email": f"x{attempt}@example.com", "password": PASSWORD}
    return client.post(REGISTER, body, **address).status_code


def test_sign_ups_from_new_addresses_of_one_ipv6_network_share_its_limit(api_client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")

    answers = [_register(api_client, n, REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}") for n in range(5)]

    assert answers == [201, 201, 201, 429, 429]
    assert User.objects.count() == 3


def test_through_a_trusted_proxy_the_forwarded_ipv6_network_counts(
    api_client, monkeypatch, settings
):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", 1)

    answers = [
        _register(
            api_client,
            n,
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"2001:db8:1:2:{n + 1:x}::1",
        )
        for n in range(5)
    ]

    assert answers[3:] == [429, 429]


def test_the_sign_up_page_counts_an_ipv6_client_by_its_network(monkeypatch):
    """Each sign-up in a browser of its own (a signed-in one is sent home)."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")

    answers = [
        Client()
        .post(
            "/sign-up",
            {"email": f"p{n}@example.com", "password": PASSWORD},
            REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}",
        )
        .status_code
        for n in range(5)
    ]

    assert answers[3:] == [429, 429]
    assert User.objects.count() == 3


def test_other_networks_and_ipv4_clients_keep_their_own_limits(api_client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "1/minute")
    addresses = ["2001:db8:1:2::1", "2001:db8:1:3::1", "192.0.2.1", "192.0.2.2"]

    answers = [_register(api_client, n, REMOTE_ADDR=a) for n, a in enumerate(addresses)]

    assert answers == [201, 201, 201, 201]


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("192.0.2.7", "192.0.2.7"),
        ("", ""),
        ("not an address", "not an address"),
    ],
)
def test_client_network(address, counted):
    assert client_network(address) == counted


def test_a_network_asked_again_is_the_same_and_made_up_entries_keep_a_bounded_number():
    """A short entry's network is kept for the next request; a flood of made-up values keeps
    at most KEPT_NETWORKS of them, and a long entry (padded, say) is worked out each time."""
    throttling._kept_network_of.cache_clear()

    twice = [client_network("2001:db8:1:2::1"), client_network("2001:db8:1:2::1")]
    padded = client_network(" " * throttling.KEPT_ENTRY_LENGTH + "192.0.2.7")
    made_up = [client_network(f"made-up-{n}") for n in range(throttling.KEPT_NETWORKS + 50)]

    assert twice == ["2001:db8:1:2::/64", "2001:db8:1:2::/64"]
    assert padded == "192.0.2.7"
    assert made_up == [f"made-up-{n}" for n in range(throttling.KEPT_NETWORKS + 50)]
    assert throttling._kept_network_of.cache_info().currsize == throttling.KEPT_NETWORKS
    assert throttling._kept_network_of.cache_info().hits >= 1


def _forwarded_ident(monkeypatch, entry: str, peer: str = "10.0.0.1") -> str:
    """What a request through one trusted proxy counts as when the proxy wrote `entry`."""
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", 1)
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=entry)
    return AuthThrottle().get_ident(request)


@pytest.mark.parametrize(
    ("entry", "counted"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("192.0.2.7:5678", "192.0.2.7"),
        ("[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::1]", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("[::ffff:192.0.2.7]:80", "192.0.2.7"),
        ("198.51.100.1, 192.0.2.7:5678", "192.0.2.7"),
    ],
)
def test_a_forwarded_entry_with_a_port_counts_as_its_address(monkeypatch, entry, counted):
    """Proxies that write the client's port (`192.0.2.7:5678`, `[2001:db8::1]:443`) gave
    each connection an entry of its own, and so a limit of its own."""
    assert _forwarded_ident(monkeypatch, entry) == counted


@pytest.mark.parametrize(
    "entry",
    [
        "unknown",
        "",
        "192.0.2.7:http",
        "192.0.2.7:",
        "[2001:db8::1]:x",
        "[2001:db8::1]443",
        "[2001:db8::1]:",
        "[2001:db8::1",
        "2001:db8::1]:443",
        "192.0.2.7:5678:1",
        "192.0.2.7:\u00b2",
        "x" * 300,
    ],
)
def test_a_forwarded_entry_that_names_no_address_counts_as_the_connecting_peer(monkeypatch, entry):
    """Counted as written, each made-up value was a limit of its own: it counts as the
    proxy that sent it instead, one count for them all."""
    assert _forwarded_ident(monkeypatch, entry) == "10.0.0.1"


def test_sign_ups_through_a_proxy_that_writes_ports_share_the_clients_limit(
    api_client, monkeypatch
):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", 1)
    entries = [f"192.0.2.7:{50000 + n}" for n in range(4)]
    entries += [f"[2001:db8:1:2::{n + 1}]:{443 + n}" for n in range(4)]
    entries += ["unknown", "[bad]:1"]

    answers = [
        _register(api_client, n, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=entry)
        for n, entry in enumerate(entries)
    ]

    assert answers == [201, 201, 201, 429] * 2 + [201, 201]
    assert User.objects.count() == 8


@pytest.mark.parametrize(
    ("proxies", "entry", "counted"),
    [
        (2, "192.0.2.7", "10.0.0.1"),
        (3, "198.51.100.1, 192.0.2.7", "10.0.0.1"),
        (2, "198.51.100.1, 192.0.2.7", "198.51.100.1"),
        (2, "203.0.113.9, 198.51.100.1, 192.0.2.7", "198.51.100.1"),
    ],
)
def test_a_forwarded_chain_shorter_than_the_trusted_proxies_counts_as_the_connecting_peer(
    monkeypatch, proxies, entry, counted
):
    """Behind TRUSTED_PROXY_COUNT=2 a chain of one entry did not pass both proxies (one was
    bypassed, or the header came with the request): its first entry is the client's own
    writing. It was taken as the client, so a new made-up address each request was a new
    limit; it counts as the connecting peer instead, as an entry naming no address does."""
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", proxies)
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=entry)

    assert AuthThrottle().get_ident(request) == counted


def test_sign_ups_naming_new_addresses_in_a_short_chain_share_the_peer_s_limit(
    api_client, monkeypatch
):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", 2)

    answers = [
        _register(api_client, n, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")
        for n in range(4)
    ]

    assert answers == [201, 201, 201, 429]
    assert User.objects.count() == 3


def test_a_client_that_connects_past_the_proxy_cannot_name_its_own_addresses(
    api_client, monkeypatch
):
    """Behind TRUSTED_PROXY_COUNT=1, a client that reached the service directly (from the
    internet, past the proxy) wrote X-Forwarded-For itself: each new address it named was a
    new limit. Only a request from TRUSTED_PROXY_NETWORKS (private by default) is believed;
    this one counts as the address it connected from."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    monkeypatch.setattr("rest_framework.settings.api_settings.NUM_PROXIES", 1)

    answers = [
        _register(
            api_client, n, REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}"
        )
        for n in range(5)
    ]

    assert answers == [201, 201, 201, 429, 429]
    assert User.objects.count() == 3


@pytest.mark.parametrize(
    ("peer", "networks", "counted"),
    [
        ("203.0.113.50", None, "203.0.113.50"),
        ("203.0.113.50", ("203.0.113.0/24",), "192.0.2.7"),
        ("10.0.0.1", ("203.0.113.0/24",), "10.0.0.1"),
        ("10.0.0.1", None, "192.0.2.7"),
        ("::ffff:10.0.0.1", None, "192.0.2.7"),
        ("fd00::1", None, "192.0.2.7"),
        ("2001:db8::1", None, "2001:db8::/64"),
        # gunicorn on a unix socket: only a process on this machine connects.
        ("", ("203.0.113.0/24",), "192.0.2.7"),
    ],
)
def test_the_forwarded_address_counts_only_from_a_trusted_proxy_network(
    monkeypatch, settings, peer, networks, counted
):
    if networks is not None:
        settings.TRUSTED_PROXY_NETWORKS = tuple(ipaddress.ip_network(n) for n in networks)
    assert _forwarded_ident(monkeypatch, "127.0.0.1, 192.0.2.7", peer=peer) == counted
