"""The staff billing overview shows each of its lists only to staff who may view what it
lists in the admin: the page itself asks for invoices."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import PaymentEvent
from events.models import WebhookEndpoint
from tokens.models import LedgerCheckRun

pytestmark = pytest.mark.django_db

SECRET_URL = "https://hooks.example.com/in?key=s3cr3t-token"
INVOICES = "view_invoice"
EVERY_LIST = (INVOICES, "view_webhookendpoint", "view_paymentevent", "view_tokenaccount")


def staff_with(*codenames: str):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return staff


@pytest.fixture
def to_review():
    """A failing endpoint whose URL holds a token, a payment event to review and a failing
    account of the last audit."""
    WebhookEndpoint.objects.create(
        url=SECRET_URL, event_types="|invoice.paid|", secret="whsec_x", failing_since=timezone.now()
    )
    PaymentEvent.objects.create(
        provider="stripe",
        event_id="evt_review",
        event_type="charge.refunded",
        payload="{}",
        signature_valid=True,
        outcome=PaymentEvent.Outcome.FAILED,
        error="A refund nobody asked for",
    )
    customer = UserFactory(email="failing@example.com")
    LedgerCheckRun.objects.create(
        failing_accounts=1,
        failures=[{"account_id": str(uuid4()), "user_id": str(customer.pk), "problems": ["x"]}],
    )


@pytest.mark.parametrize(
    ("codenames", "shown"), [((INVOICES,), False), (EVERY_LIST, True)], ids=["invoices", "all"]
)
def test_each_list_is_shown_to_staff_who_may_view_what_it_lists(
    client, to_review, codenames, shown
):
    client.force_login(staff_with(*codenames))

    response = client.get(reverse("billing-overview"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Pending invoices older than an hour" in page
    assert {
        "endpoint": "s3cr3t-token" in page,
        "payment event": "A refund nobody asked for" in page,
        "ledger failure": "failing@example.com" in page,
    } == dict.fromkeys(("endpoint", "payment event", "ledger failure"), shown)


def test_staff_who_may_not_view_invoices_are_refused(client, to_review):
    client.force_login(staff_with(*EVERY_LIST[1:]))

    response = client.get(reverse("billing-overview"))

    assert response.status_code == 403
    assert "s3cr3t-token" not in response.content.decode()
