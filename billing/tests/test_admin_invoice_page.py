"""The invoice's change page in the admin: Mark paid, Cancel and Refund buttons that ask first
and go through the services, and the receipt."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from tokens.selectors import token_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(user):
    bundle = TokenBundleFactory(name="Standard", token_amount=100, price=Decimal("90.00"))
    return checkout(user, bundles=[bundle]).invoice


@pytest.fixture
def paid(pending):
    capture(pending)
    pending.refresh_from_db()
    return pending


def change_url(invoice: Invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def operate_url(invoice: Invoice, operation: str) -> str:
    return reverse(f"admin:billing_invoice_{operation.replace('-', '_')}", args=[invoice.pk])


def test_the_buttons_lead_to_their_confirmation_pages(staff_browser, pending):
    page = staff_browser.get(change_url(pending)).content.decode()

    assert f'href="{operate_url(pending, "mark-paid")}"' in page
    assert f'href="{operate_url(pending, "cancel")}"' in page


def test_a_pending_invoice_offers_mark_paid_and_cancel(staff_browser, pending):
    page = staff_browser.get(change_url(pending)).content.decode()

    assert 'id="operation-mark-paid"' in page
    assert 'id="operation-cancel"' in page
    assert 'id="operation-refund"' not in page
    assert 'id="receipt-pdf"' not in page


def test_a_paid_invoice_offers_refund_and_its_receipt(staff_browser, paid):
    page = staff_browser.get(change_url(paid)).content.decode()
    receipt = staff_browser.get(reverse("admin:billing_invoice_receipt", args=[paid.pk]))

    assert 'id="operation-refund"' in page
    assert 'id="operation-mark-paid"' not in page
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF-")


def test_mark_paid_asks_for_the_reference_then_captures(staff_browser, user, pending):
    asked = staff_browser.get(operate_url(pending, "mark-paid"))
    done = staff_browser.post(
        operate_url(pending, "mark-paid"), {"payment_reference": "bank-2026-17"}, follow=True
    )

    pending.refresh_from_db()
    assert "Payment reference" in asked.content.decode()
    assert pending.status == "paid"
    assert (pending.provider, pending.payment_reference) == ("manual", "bank-2026-17")
    assert token_balance(user_id=user.pk).balance == 100
    assert "is paid: its tokens are credited" in done.content.decode()


def test_mark_paid_without_a_reference_changes_nothing(staff_browser, pending):
    before = database_state()

    response = staff_browser.post(operate_url(pending, "mark-paid"), {"payment_reference": ""})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert database_state() == before


def test_mark_paid_with_a_reference_of_invisible_characters_only_changes_nothing(
    staff_browser, pending
):
    """The staff API has such a reference blank (common.text.trimmed); the admin stored it,
    and the invoice was paid by a reference that reads as nothing."""
    before = database_state()

    response = staff_browser.post(
        operate_url(pending, "mark-paid"), {"payment_reference": "\u200b\u2060 "}
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert database_state() == before


def test_a_transfer_pasted_with_an_invisible_character_pays_one_invoice_only(
    staff_browser, user, pending
):
    """A reference copied from a bank's page with a zero-width space at its end was another
    reference to the database, so one transfer paid two invoices."""
    staff_browser.post(operate_url(pending, "mark-paid"), {"payment_reference": "bank-2026-17"})
    other = checkout(user, bundles=[TokenBundleFactory(token_amount=5)]).invoice
    before = database_state()

    response = staff_browser.post(
        operate_url(other, "mark-paid"), {"payment_reference": "bank-2026-17\u200b"}, follow=True
    )

    assert "already paid another invoice" in response.content.decode()
    assert Invoice.objects.get(pk=other.pk).status == "pending"
    assert database_state() == before


def test_cancel_asks_then_cancels(staff_browser, pending):
    asked = staff_browser.get(operate_url(pending, "cancel")).content.decode()
    staff_browser.post(operate_url(pending, "cancel"))

    pending.refresh_from_db()
    assert f"Yes, cancel {pending.number}" in asked
    assert pending.status == "cancelled"


def test_refund_takes_back_the_unspent_tokens(staff_browser, user, paid):
    response = staff_browser.post(operate_url(paid, "refund"), follow=True)

    paid.refresh_from_db()
    assert paid.status == "refunded"
    assert token_balance(user_id=user.pk).balance == 0
    assert f"{paid.number} is refunded: 100 tokens taken back." in response.content.decode()


def test_refund_of_a_bank_transfer_says_the_money_is_to_be_returned_by_hand(
    staff_browser, user, pending
):
    """The staff API says so (`provider_refund_skipped`: `not_stripe`); the admin said only
    that the invoice was refunded, as it does when Stripe returns the money, and the
    customer's transfer was never paid back."""
    staff_browser.post(operate_url(pending, "mark-paid"), {"payment_reference": "bank-2026-17"})

    response = staff_browser.post(operate_url(pending, "refund"), follow=True)

    assert Invoice.objects.get(pk=pending.pk).status == "refunded"
    assert (
        f"{pending.number} is refunded: 100 tokens taken back. No money went back to the "
        "customer: it was paid outside Stripe (manual, bank-2026-17); return it yourself."
    ) in response.content.decode()


def test_refund_of_a_stripe_payment_says_nothing_is_left_to_return(
    staff_browser, api_client, user_client, pending, fake_stripe
):
    paying = user_client.post(f"/api/v1/user/invoices/{pending.pk}/pay", {"provider": "stripe"})
    body, header = fake_stripe.signed(fake_stripe.complete(paying.json()["session_id"]))
    api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )

    response = staff_browser.post(operate_url(pending, "refund"), follow=True)

    page = response.content.decode()
    assert f"{pending.number} is refunded: 100 tokens taken back." in page
    assert "No money went back" not in page


def test_refund_of_a_disputed_stripe_payment_says_stripe_refunded_nothing(
    staff_browser, api_client, user_client, user, pending, fake_stripe
):
    paying = user_client.post(f"/api/v1/user/invoices/{pending.pk}/pay", {"provider": "stripe"})
    session = paying.json()["session_id"]
    for event in (fake_stripe.complete(session), fake_stripe.disputed(session)):
        body, header = fake_stripe.signed(event)
        api_client.post(
            "/api/v1/webhooks/stripe",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )

    response = staff_browser.post(operate_url(pending, "refund"), follow=True)

    pending.refresh_from_db()
    assert (pending.status, token_balance(user_id=user.pk).balance) == ("refunded", 0)
    assert (
        f"{pending.number} is refunded: 100 tokens taken back. Stripe refunded nothing: the "
        "payment is disputed"
    ) in response.content.decode()


def test_refund_of_a_payment_stripe_refunded_already_says_stripe_refunded_nothing_now(
    staff_browser, api_client, user_client, user, pending, fake_stripe
):
    paying = user_client.post(f"/api/v1/user/invoices/{pending.pk}/pay", {"provider": "stripe"})
    session = paying.json()["session_id"]
    body, header = fake_stripe.signed(fake_stripe.complete(session))
    api_client.post(
        "/api/v1/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    fake_stripe.refunded(session)

    response = staff_browser.post(operate_url(pending, "refund"), follow=True)

    pending.refresh_from_db()
    assert pending.status == "refunded"
    assert (
        f"{pending.number} is refunded: 100 tokens taken back. Stripe refunded nothing now: it "
        "had refunded this payment already."
    ) in response.content.decode()


@pytest.mark.parametrize(("state", "operation"), [("paid", "cancel"), ("pending", "refund")])
def test_an_operation_the_state_forbids_says_so_and_changes_nothing(
    staff_browser, request, state, operation
):
    invoice = request.getfixturevalue(state)
    before = database_state()

    response = staff_browser.post(operate_url(invoice, operation), follow=True)

    assert "Nothing changed." in response.content.decode()
    assert database_state() == before


def test_staff_who_may_only_view_invoices_get_no_buttons_and_cannot_operate(client, pending):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(viewer)
    before = database_state()

    page = client.get(change_url(pending)).content.decode()
    refused = client.post(operate_url(pending, "cancel"))

    assert 'id="operation-cancel"' not in page
    assert refused.status_code == 403
    assert database_state() == before


def test_an_unknown_invoice_is_404(staff_browser, pending):
    unknown = reverse("admin:billing_invoice_cancel", args=["0" * 32])

    assert staff_browser.get(unknown).status_code == 404


def test_mark_paid_again_from_a_second_tab_says_it_was_paid_and_credits_once(
    staff_browser, user, pending
):
    """Before, the second tab was told the invoice "is paid: its tokens are credited" as if
    it had just done so."""
    url = operate_url(pending, "mark-paid")
    staff_browser.post(url, {"payment_reference": "bank-2026-17"}, follow=True)
    before = database_state()

    again = staff_browser.post(url, {"payment_reference": "bank-2026-17"}, follow=True)

    page = again.content.decode()
    assert f"{pending.number} was already paid with bank-2026-17; nothing changed." in page
    assert "its tokens are credited" not in page
    assert database_state() == before
    assert token_balance(user_id=user.pk).balance == 100


def test_mark_paid_from_a_stale_tab_of_a_refunded_invoice_does_not_say_it_is_paid(
    staff_browser, user, pending
):
    url = operate_url(pending, "mark-paid")
    staff_browser.post(url, {"payment_reference": "bank-2026-18"})
    staff_browser.post(operate_url(pending, "refund"), follow=True)
    before = database_state()

    again = staff_browser.post(url, {"payment_reference": "bank-2026-18"}, follow=True)

    page = again.content.decode()
    assert f"{pending.number} was paid with bank-2026-18 and has been refunded since" in page
    assert "is paid" not in page
    assert database_state() == before
    assert Invoice.objects.get(pk=pending.pk).status == "refunded"
    assert token_balance(user_id=user.pk).balance == 0
