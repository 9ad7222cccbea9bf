"""The `test` payment provider: the pay API, its checkout page, Pay and Decline, refusals."""

from __future__ import annotations

import json

import pytest
from django.core import signing

from billing.models import PaymentEvent
from billing.services import payments_test_mode
from billing.services.reconcile import ReconcileReport, paid_invoices_complete
from billing.services.refunds import invoice_refund
from billing.tests.helpers import capture
from billing.tests.payments_test_mode.helpers import decide, open_form, page_url
from common.tests.helpers import database_state
from tokens.selectors import token_balance

pytestmark = pytest.mark.django_db


def test_the_page_says_it_is_a_test_payment_and_shows_the_invoice(payments_on, browser, invoice):
    response = browser.get(page_url(invoice))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Test payment." in page
    assert "no money moves" in page
    assert invoice.number in page
    assert "Starter" in page
    assert "45.99 USD" in page
    assert 'value="pay">Pay $45.99</button>' in page
    assert 'value="decline" class="secondary">Decline</button>' in page


def test_with_test_mode_off_the_page_is_404(browser, invoice):
    before = database_state()

    shown = browser.get(page_url(invoice))
    posted = decide(browser, invoice, "anything")

    assert shown.status_code == posted.status_code == 404
    assert database_state() == before


def test_the_page_needs_a_signed_in_user(payments_on, client, invoice):
    response = client.get(page_url(invoice))

    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in?next=/test-checkout/")


def test_pay_captures_through_a_recorded_test_payment_event(payments_on, browser, user, invoice):
    token = open_form(browser, invoice)

    response = decide(browser, invoice, token)

    assert response.status_code == 302
    assert response["Location"] == f"/purchase/success?invoice={invoice.pk}"
    invoice.refresh_from_db()
    nonce = signing.loads(token, salt=payments_test_mode.FORM_SALT)["nonce"]
    assert (invoice.status, invoice.provider) == ("paid", "test")
    assert invoice.payment_reference == f"test_{nonce}"
    event = PaymentEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type) == (
        "test",
        f"test_{nonce}",
        "payment.captured",
    )
    assert (event.outcome, event.invoice_id, event.signature_valid) == (
        "processed",
        invoice.pk,
        True,
    )
    assert json.loads(event.payload)["amount"] == "45.99"
    assert token_balance(user_id=user.pk).balance == 50


def test_a_replayed_pay_does_nothing_twice(payments_on, browser, user, invoice):
    token = open_form(browser, invoice)
    decide(browser, invoice, token)
    before = database_state()

    again = decide(browser, invoice, token)

    assert again.status_code == 409
    assert "already submitted" in again.content.decode()
    assert database_state() == before
    assert token_balance(user_id=user.pk).balance == 50


def test_a_second_page_of_a_paid_invoice_is_409_and_writes_nothing(
    payments_on, browser, user, invoice
):
    first, second = open_form(browser, invoice), open_form(browser, invoice)
    decide(browser, invoice, first)
    before = database_state()

    shown = browser.get(page_url(invoice))
    paid_again = decide(browser, invoice, second)

    assert shown.status_code == paid_again.status_code == 409
    assert "only a pending one is paid" in paid_again.content.decode()
    assert database_state() == before
    assert token_balance(user_id=user.pk).balance == 50


def _says_paid(response, invoice) -> None:
    page = response.content.decode()
    assert response.status_code == 409
    assert f"Invoice {invoice.number} is already paid" in page
    assert "$45.99" in page
    assert f'href="/purchase/success?invoice={invoice.pk}"' in page
    assert "Nothing was done" not in page
    assert "not made" not in page


def test_pay_pressed_twice_says_paid_and_leads_to_the_receipt(payments_on, browser, user, invoice):
    token = open_form(browser, invoice)
    first = decide(browser, invoice, token)
    before = database_state()

    second = decide(browser, invoice, token)

    assert first.status_code == 302
    _says_paid(second, invoice)
    assert database_state() == before
    assert token_balance(user_id=user.pk).balance == 50


def test_back_onto_the_page_of_a_paid_invoice_says_paid(payments_on, browser, invoice):
    stale = open_form(browser, invoice)
    decide(browser, invoice, open_form(browser, invoice))
    before = database_state()

    shown = browser.get(page_url(invoice))
    paid_from_another_tab = decide(browser, invoice, stale)

    _says_paid(shown, invoice)
    _says_paid(paid_from_another_tab, invoice)
    assert database_state() == before


def test_a_refunded_invoice_s_page_says_so_and_leads_to_its_receipt(payments_on, browser, invoice):
    decide(browser, invoice, open_form(browser, invoice))
    invoice_refund(invoice_id=invoice.pk)

    shown = browser.get(page_url(invoice))

    page = shown.content.decode()
    assert shown.status_code == 409
    assert f"Invoice {invoice.number} was paid and then refunded" in page
    assert f'href="/purchase/success?invoice={invoice.pk}"' in page
    assert "Nothing was done" not in page


def test_a_cancelled_invoice_s_page_still_says_nothing_was_done(
    payments_on, browser, user_client, invoice
):
    user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")

    shown = browser.get(page_url(invoice))

    page = shown.content.decode()
    assert shown.status_code == 409
    assert "Nothing was done" in page
    assert "/purchase/success" not in page


def test_the_capture_itself_is_idempotent_for_the_same_test_payment(payments_on, user, invoice):
    """Below the form's one-time check, capture alone would not pay twice either."""
    reference = "test_0123456789abcdef0123456789abcdef"
    first = capture(invoice, reference)

    again = capture(invoice, reference)

    assert (first.status, again.status) == ("success", "already_processed")
    assert token_balance(user_id=user.pk).balance == 50


def test_a_test_payment_shows_in_admin_and_reconciliation_finds_it_complete(
    payments_on, browser, staff_browser, invoice
):
    decide(browser, invoice, open_form(browser, invoice))

    events = staff_browser.get("/admin/billing/paymentevent/?provider__exact=test")
    invoices = staff_browser.get("/admin/billing/invoice/?provider__exact=test")
    report = ReconcileReport(dry_run=True)
    paid_invoices_complete(report)

    assert events.status_code == invoices.status_code == 200
    assert "payment.captured" in events.content.decode()
    assert invoice.number in invoices.content.decode()
    assert report.paid_invoices_completed == 0
