"""Staff's webhook endpoints and the user's alert threshold over the API."""

import threading

import pytest

from common.tests.helpers import database_state
from events import services
from events.models import WebhookEndpoint
from events.tests.api_helpers import ENDPOINTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def hanging_dns(monkeypatch):
    """A name server that does not answer: each resolution waits for the test to end. Were
    the wait unbounded, it would answer after 20 s with a public address, and the URL pass."""
    released = threading.Event()

    def resolve(host, port):
        released.wait(20)
        return ["93.184.215.14"]

    monkeypatch.setattr("events.addresses.resolve", resolve)
    monkeypatch.setattr("events.services.endpoints.URL_RESOLVE_TIMEOUT_SECONDS", 0.1)
    yield
    released.set()


def endpoint_rows() -> list[tuple]:
    return list(WebhookEndpoint.objects.order_by("pk").values_list())


UNRESOLVED = {
    "error": "Invalid input in: url.",
    "code": "invalid_url",
    "fields": {"url": ["The host hooks.example.com did not resolve within 0.1 seconds."]},
}


def test_a_url_whose_name_does_not_resolve_in_time_is_not_created(staff_client, hanging_dns):
    before, endpoints_before = database_state(), endpoint_rows()

    response = staff_client.post(
        ENDPOINTS, {"url": "https://hooks.example.com/billing", "event_types": ["ping"]}
    )

    assert (response.status_code, response.json()) == (400, UNRESOLVED)
    assert (database_state(), endpoint_rows()) == (before, endpoints_before)


def test_a_url_whose_name_does_not_resolve_in_time_is_not_a_change(
    staff_client, monkeypatch, hanging_dns
):
    with monkeypatch.context() as dns:
        dns.setattr("events.addresses.resolve", lambda host, port: ["93.184.215.14"])
        endpoint = services.endpoint_create(
            url="https://old.example.com/billing", event_types=["ping"]
        )
    before, endpoints_before = database_state(), endpoint_rows()

    response = staff_client.patch(
        f"{ENDPOINTS}/{endpoint.pk}",
        {"url": "https://hooks.example.com/billing", "description": "moved"},
    )

    assert (response.status_code, response.json()) == (400, UNRESOLVED)
    assert (database_state(), endpoint_rows()) == (before, endpoints_before)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("64:ff9b:1::5db8:d70e", False),  # NAT64 for local use
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a01:203::", False),  # 6to4 of 10.1.2.3
        ("2002:5db8:d70e::", True),  # 6to4 of a public address
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::ffff:a01:203", False),  # IPv4-mapped 10.1.2.3
        ("::ffff:0:7f00:1", False),  # IPv4-translated (SIIT) 127.0.0.1
        ("::ffff:0:a9fe:a9fe", False),  # IPv4-translated 169.254.169.254
        ("::ffff:0:5db8:d70e", True),  # IPv4-translated public address
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
    ],
)
def test_an_ipv6_address_carrying_an_internal_ipv4_one_is_refused(
    staff_client, monkeypatch, address, allowed
):
    """NAT64, 6to4 and IPv4-compatible addresses count as global to Python, though a
    gateway (or the kernel) takes them to the IPv4 address inside."""
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [address])
    before = database_state()

    response = staff_client.post(
        ENDPOINTS, {"url": "https://hooks.example.com/x", "event_types": ["ping"]}
    )

    if allowed:
        assert response.status_code == 201
    else:
        assert (response.status_code, response.json()["code"]) == (400, "invalid_url")
        assert database_state() == before


def test_a_private_url_is_invalid_url(staff_client, public_dns):
    response = staff_client.post(
        ENDPOINTS, {"url": "https://internal.example.com/x", "event_types": ["ping"]}
    )

    assert response.json()["code"] == "invalid_url"


def test_private_urls_and_http_are_allowed_when_configured(staff_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    response = staff_client.post(
        ENDPOINTS, {"url": "http://127.0.0.1:9/x", "event_types": ["ping"]}
    )

    assert response.status_code == 201


@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_url_over_2000_characters_is_invalid_url(staff_client, public_dns, method):
    """Contract: a URL over 2000 characters is 400 `invalid_url` naming `url`, as any other
    bad URL; the serializer's max_length made it `validation_error`."""
    endpoint = services.endpoint_create(url="https://hooks.example.com/a", event_types=["ping"])
    base = "https://hooks.example.com/"
    longest, over = base + "x" * (2000 - len(base)), base + "x" * (2001 - len(base))
    path = ENDPOINTS if method == "post" else f"{ENDPOINTS}/{endpoint.pk}"
    send = getattr(staff_client, method)
    before = database_state()

    refused = send(path, {"url": over, "event_types": ["ping"]})

    assert (refused.status_code, refused.json()) == (
        400,
        {
            "error": "Invalid input in: url.",
            "code": "invalid_url",
            "fields": {"url": ["The URL has more than 2000 characters."]},
        },
    )
    assert database_state() == before
    accepted = send(path, {"url": longest, "event_types": ["ping"]})
    assert accepted.status_code in (200, 201), accepted.json()
    assert accepted.json()["url"] == longest


def test_a_bad_url_is_named_beside_the_other_refused_fields(staff_client, monkeypatch):
    """Staff correct every field at once: a bad URL alone is `invalid_url`, and with other
    fields refused too it is named beside them rather than answered first on its own."""
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: ["93.184.215.14"])
    endpoint = services.endpoint_create(url="https://old.example.com/billing", event_types=["ping"])
    before, endpoints_before = database_state(), endpoint_rows()

    created = staff_client.post(
        ENDPOINTS, {"url": "ftp://hooks.example.com", "event_types": ["nope"]}, format="json"
    )
    changed = staff_client.patch(
        f"{ENDPOINTS}/{endpoint.pk}",
        {"url": "https://hooks.example.com/" + "a" * 2000, "is_active": "maybe"},
        format="json",
    )

    assert (created.status_code, created.json()) == (
        400,
        {
            "error": "Invalid input in: url, event_types.",
            "code": "validation_error",
            "fields": {
                "url": ["The URL must use https."],
                "event_types": ['Item 0: "nope" is not a valid choice.'],
            },
        },
    )
    assert (changed.status_code, changed.json()["fields"]) == (
        400,
        {
            "url": ["The URL has more than 2000 characters."],
            "is_active": ['Must be true or false (or "true" or "false").'],
        },
    )
    assert (database_state(), endpoint_rows()) == (before, endpoints_before)


def test_a_url_with_invisible_ends_is_checked_as_it_would_be_saved(staff_client, public_dns):
    """The URL's ends are trimmed (invisible characters too) before it is saved: named
    beside another refused field, it is checked trimmed as well, not refused for what the
    trimming takes off (a zero-width space pasted before `https`)."""
    before = database_state()
    url = "\u200bhttps://hooks.example.com/billing"

    refused = staff_client.post(ENDPOINTS, {"url": url, "event_types": ["nope"]}, format="json")
    assert (refused.status_code, refused.json()["fields"]) == (
        400,
        {"event_types": ['Item 0: "nope" is not a valid choice.']},
    )
    assert database_state() == before

    accepted = staff_client.post(ENDPOINTS, {"url": url, "event_types": ["ping"]}, format="json")
    assert accepted.status_code == 201, accepted.json()
    assert accepted.json()["url"] == "https://hooks.example.com/billing"
