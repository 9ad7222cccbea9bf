"""A client counts by its network where one client holds many addresses: an IPv6 client is
given a /64 (2^64 addresses) by its provider, so counted by the address it took a new one
for each request and was never limited."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from common.api.throttling import client_network

pytestmark = pytest.mark.django_db

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
