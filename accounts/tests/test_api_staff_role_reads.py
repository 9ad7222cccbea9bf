"""Staff roles and the staff API's reads: a staff member given a role reads, through the API,
what the admin lets that role view, and no more. A support agent given invoices only read the
webhook endpoints' URLs with their `?key=` tokens (which the admin and the staff overview hide
from that role), and one given token accounts only read every customer's email and invoices.
A model's change permission grants viewing it, as in the admin; staff without a role and
superusers read everything, as before."""

from __future__ import annotations

import pytest

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory, staff_in_role
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for
from events import services as events

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
INVOICES_ONLY = ("billing.view_invoice",)
TOKENS_ONLY = ("tokens.view_tokenaccount",)


@pytest.fixture
def reads(settings) -> dict[str, str]:
    """One read of each kind the staff API serves, by the permission a role needs for it."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = events.endpoint_create(
        url="http://127.0.0.1:9/hooks?key=s3cret", event_types=["ping"]
    )
    bundle = TokenBundleFactory()
    invoice = checkout(UserFactory(), bundles=[bundle]).invoice
    capture(invoice)
    api_key_create(name="backend", actor_id=UserFactory(is_staff=True).pk)
    return {
        "endpoints": ENDPOINTS,
        "endpoint": f"{ENDPOINTS}/{endpoint.pk}",
        "deliveries": f"{ENDPOINTS}/{endpoint.pk}/deliveries",
        "invoices": "/api/v1/admin/invoices",
        "receipt": f"/api/v1/admin/invoices/{invoice.pk}/pdf",
        "holds": f"/api/v1/users/{invoice.user_id}/holds",
        "bundles": "/api/v1/admin/token-bundles",
        "bundle": f"/api/v1/admin/token-bundles/{bundle.pk}",
        "api keys": "/api/v1/admin/api-keys",
    }


def answers(client, reads: dict[str, str]) -> dict[str, int]:
    return {name: client.get(path).status_code for name, path in reads.items()}


def test_a_role_given_invoices_only_reads_invoices_and_receipts_only(reads):
    agent = client_for(staff_in_role(*INVOICES_ONLY))
    before = database_state()

    seen = answers(agent, reads)

    assert {name for name, code in seen.items() if code == 200} == {"invoices", "receipt"}
    assert {code for name, code in seen.items() if name not in ("invoices", "receipt")} == {403}
    assert database_state() == before


def test_a_refused_read_names_the_view_permission_and_shows_nothing(reads):
    agent = client_for(staff_in_role(*INVOICES_ONLY))

    answer = agent.get(reads["endpoints"])

    assert answer.json()["code"] == "permission_denied"
    assert "events.view_webhookendpoint" in answer.json()["error"]
    assert "s3cret" not in answer.content.decode()


def test_a_head_or_options_of_a_read_asks_what_its_get_asks(reads):
    invoices_only = client_for(staff_in_role(*INVOICES_ONLY))
    tokens_only = client_for(staff_in_role(*TOKENS_ONLY))

    assert invoices_only.head(reads["endpoint"]).status_code == 403
    assert invoices_only.options(reads["endpoints"]).status_code == 403
    assert invoices_only.options(reads["bundles"]).status_code == 403
    assert tokens_only.head(reads["receipt"]).status_code == 403
    assert invoices_only.head(reads["receipt"]).status_code == 200


def test_a_role_given_token_accounts_only_reads_a_user_s_holds_only(reads):
    seen = answers(client_for(staff_in_role(*TOKENS_ONLY)), reads)

    assert {name for name, code in seen.items() if code == 200} == {"holds"}


def test_a_change_permission_grants_reading_as_in_the_admin(reads):
    role = (
        "events.change_webhookendpoint",
        "catalog.change_tokenbundle",
        "accounts.view_apikey",
    )
    seen = answers(client_for(staff_in_role(*role)), reads)

    assert {name for name, code in seen.items() if code == 200} == {
        "endpoints",
        "endpoint",
        "deliveries",
        "bundles",
        "bundle",
        "api keys",
    }


@pytest.mark.parametrize(
    "staff",
    [lambda: UserFactory(is_staff=True), lambda: UserFactory(is_staff=True, is_superuser=True)],
    ids=["staff without a role", "superuser"],
)
def test_staff_without_a_role_and_superusers_read_everything(reads, staff):
    assert set(answers(client_for(staff()), reads).values()) == {200}


def test_a_customer_reads_none_of_them(reads):
    seen = answers(client_for(UserFactory()), reads)

    assert set(seen.values()) == {403}
