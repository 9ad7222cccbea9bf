"""The customer's side: the price list, the landing page, invoices with Pay, Cancel and PDF
receipts, plans and add-ons on the purchase page, and the account page. Every refusal is
followed by a check that nothing changed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing import services as billing
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_invoices_are_mine_newest_first_50_a_page(browser, user, bundles):
    for _ in range(51):
        checkout(user, bundles=bundles[:1])
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice

    first = browser.get(reverse("pages:invoices"))
    second = browser.get(reverse("pages:invoices"), {"page": 2})

    numbers = [invoice.number for invoice in first.context["page"].object_list]
    assert len(numbers) == 50
    assert numbers == sorted(numbers, reverse=True)
    assert len(second.context["page"].object_list) == 1
    assert theirs.number not in first.content.decode() + second.content.decode()
    assert 'data-label="Status"' in first.content.decode()


def test_invoices_filter_by_status(browser, user, bundles):
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid)
    pending = checkout(user, bundles=bundles[:1]).invoice

    response = browser.get(reverse("pages:invoices"), {"status": "paid"})

    page = response.content.decode()
    assert paid.number in page
    assert pending.number not in page


@pytest.mark.parametrize("params", [{"status": "lost"}, {"page": "0"}, {"page": "x"}])
def test_bad_invoice_filters_are_400(browser, params):
    assert browser.get(reverse("pages:invoices"), params).status_code == 400


def test_a_pending_invoice_shows_its_lines_totals_pay_and_cancel(browser, user, bundles, test_mode):
    invoice = checkout(user, bundles=[bundles[0], bundles[0], bundles[1]]).invoice

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()

    assert invoice.number in page
    assert "Taster (10 tokens)" in page
    assert '<td class="number" id="invoice-total">$65.00</td>' in page
    assert "Pay $65.00" in page
    assert "Cancel invoice" in page
    assert "Download receipt" not in page


def test_a_paid_invoice_offers_its_receipt_not_pay(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice, reference="pay-42")

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
    pdf = browser.get(reverse("pages:receipt", args=[invoice.pk]))

    assert "pay-42" in page
    assert "Download receipt (PDF)" in page
    assert "Cancel invoice" not in page
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_pay_goes_to_the_test_payment_page(browser, user, bundles, test_mode):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    response = browser.post(reverse("pages:invoice-pay", args=[invoice.pk]))

    assert response.status_code == 302
    assert response["Location"] == f"/test-checkout/{invoice.pk}"


def test_cancel_cancels_a_pending_invoice(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    response = browser.post(reverse("pages:invoice-cancel", args=[invoice.pk]), follow=True)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert f"Invoice {invoice.number} is cancelled. Nothing was charged." in (
        response.content.decode()
    )


@pytest.mark.parametrize("action", ["invoice-pay", "invoice-cancel"])
def test_paying_or_cancelling_an_invoice_that_is_not_pending_changes_nothing(
    browser, user, bundles, action, test_mode
):
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid)
    cancelled = checkout(user, bundles=bundles[:1]).invoice
    billing.invoice_cancel(invoice_id=cancelled.pk)
    before = database_state()

    answers = [browser.post(reverse(f"pages:{action}", args=[i.pk])) for i in (paid, cancelled)]

    assert [answer.status_code for answer in answers] == [409, 409]
    assert "only a pending" in answers[0].content.decode().lower()
    assert 'role="alert"' in answers[1].content.decode()
    assert database_state() == before


@pytest.mark.parametrize("name", ["invoice", "receipt"])
def test_another_users_invoice_and_receipt_are_404(browser, bundles, name):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice
    capture(theirs)

    assert browser.get(reverse(f"pages:{name}", args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize("action", ["invoice-pay", "invoice-cancel"])
def test_paying_or_cancelling_another_users_invoice_is_404_and_changes_nothing(
    browser, bundles, action, test_mode
):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice
    before = database_state()

    response = browser.post(reverse(f"pages:{action}", args=[theirs.pk]))

    assert response.status_code == 404
    assert database_state() == before


def test_a_pending_invoice_has_no_receipt(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    assert browser.get(reverse("pages:receipt", args=[invoice.pk])).status_code == 404


def test_a_forged_csrf_token_cancels_nothing(user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    before = database_state()

    response = client.post(
        reverse("pages:invoice-cancel", args=[invoice.pk]), {"csrfmiddlewaretoken": "x" * 64}
    )

    assert response.status_code == 403
    assert database_state() == before


def test_without_a_provider_the_invoice_says_payments_are_unavailable(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    before = database_state()

    page = browser.get(reverse("pages:invoice", args=[invoice.pk])).content.decode()
    paying = browser.post(reverse("pages:invoice-pay", args=[invoice.pk]))

    assert "Payments are not available right now" in page
    assert paying.status_code == 503
    assert "nothing was charged" in paying.content.decode()
    assert database_state() == before
