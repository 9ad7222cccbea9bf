"""Staff roles in the invoice API: marking paid and refunding move money and tokens, so they
need what the admin's Mark paid and Refund need (billing.change_invoice). A support agent
given view permissions only could do both through the staff API with their own token."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from accounts.tests.factories import UserFactory, staff_in_role
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

VIEWER = ("billing.view_invoice", "tokens.view_tokenaccount", "tokens.view_tokentransaction")


@pytest.fixture
def invoice(user) -> Invoice:
    return checkout(
        user, bundles=[TokenBundleFactory(token_amount=100, price=Decimal("9"))]
    ).invoice


def mark_paid(client, invoice: Invoice):
    return client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "bank-1"}
    )


def refund(client, invoice: Invoice):
    return client.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")


@pytest.mark.parametrize(
    "role", [VIEWER, ("catalog.change_tokenbundle", "catalog.view_tokenbundle")]
)
def test_staff_whose_role_excludes_invoices_cannot_mark_paid_or_refund(user, invoice, role):
    paid = checkout(user, bundles=[TokenBundleFactory()]).invoice
    capture(paid)
    agent = client_for(staff_in_role(*role))
    before = database_state()

    answers = [mark_paid(agent, invoice), refund(agent, paid)]

    assert [(a.status_code, a.json().get("code")) for a in answers] == [
        (403, "permission_denied"),
        (403, "permission_denied"),
    ]
    assert "billing.change_invoice" in answers[0].json()["error"]
    assert database_state() == before


@pytest.mark.parametrize(
    "staff",
    [
        lambda: staff_in_role("billing.view_invoice", "billing.change_invoice"),
        lambda: UserFactory(is_staff=True),  # no role at all: the contract's staff
        lambda: UserFactory(is_staff=True, is_superuser=True),
    ],
    ids=["role with change_invoice", "staff without a role", "superuser"],
)
def test_staff_who_may_change_invoices_mark_paid_and_refund(user, invoice, staff):
    client = client_for(staff())

    answers = [mark_paid(client, invoice).status_code, refund(client, invoice).status_code]

    assert answers == [200, 200]
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.REFUNDED


def test_the_staff_invoice_list_stays_open_to_a_viewer(invoice):
    response = client_for(staff_in_role(*VIEWER)).get("/api/v1/admin/invoices")

    assert (response.status_code, response.json()["total"]) == (200, 1)


def test_a_role_changed_to_view_only_refuses_at_once(invoice):
    """Permissions are read on each request, not trusted to the token."""
    billing_staff = staff_in_role("billing.view_invoice", "billing.change_invoice")
    client = client_for(billing_staff)
    billing_staff.groups.get().permissions.remove(
        Permission.objects.get(content_type__app_label="billing", codename="change_invoice")
    )

    assert mark_paid(client, invoice).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PENDING
