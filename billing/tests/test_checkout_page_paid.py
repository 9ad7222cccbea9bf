"""The test payment page met again after its invoice was paid: Back onto it, or Pay pressed
twice before the page's script disabled the button (the browser shows the second answer). It
stays a 409 that does nothing, but it tells the payer the invoice is paid and leads to the
receipt, as the purchase page does for a paid invoice, instead of "Nothing was done"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from billing.services.refunds import invoice_refund
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from tokens.selectors import token_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def payments_on(settings):
    settings.PAYMENTS_TEST_MODE = True
    settings.STRIPE_SECRET_KEY = ""


@pytest.fixture
def invoice(user):
    bundle = TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.99"))
    return checkout(user, bundles=[bundle]).invoice


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def _page(invoice) -> str:
    return f"/test-checkout/{invoice.pk}"


def _pay(client, invoice, token: str):
    return client.post(_page(invoice), {"form_token": token, "decision": "pay"})


def _token(client, invoice) -> str:
    return client.get(_page(invoice)).context["form"].initial["form_token"]


def _says_paid(response, invoice) -> None:
    page = response.content.decode()
    assert response.status_code == 409
    assert f"Invoice {invoice.number} is already paid" in page
    assert "$45.99" in page
    assert f'href="/purchase/success?invoice={invoice.pk}"' in page
    assert "Nothing was done" not in page
    assert "not made" not in page


def test_pay_pressed_twice_says_paid_and_leads_to_the_receipt(payments_on, browser, user, invoice):
    token = _token(browser, invoice)
    first = _pay(browser, invoice, token)
    before = database_state()

    second = _pay(browser, invoice, token)

    assert first.status_code == 302
    _says_paid(second, invoice)
    assert database_state() == before
    assert token_balance(user_id=user.pk).balance == 50


def test_back_onto_the_page_of_a_paid_invoice_says_paid(payments_on, browser, invoice):
    stale = _token(browser, invoice)
    _pay(browser, invoice, _token(browser, invoice))
    before = database_state()

    shown = browser.get(_page(invoice))
    paid_from_another_tab = _pay(browser, invoice, stale)

    _says_paid(shown, invoice)
    _says_paid(paid_from_another_tab, invoice)
    assert database_state() == before


def test_a_refunded_invoice_s_page_says_so_and_leads_to_its_receipt(payments_on, browser, invoice):
    _pay(browser, invoice, _token(browser, invoice))
    invoice_refund(invoice_id=invoice.pk)

    shown = browser.get(_page(invoice))

    page = shown.content.decode()
    assert shown.status_code == 409
    assert f"Invoice {invoice.number} was paid and then refunded" in page
    assert f'href="/purchase/success?invoice={invoice.pk}"' in page
    assert "Nothing was done" not in page


def test_a_cancelled_invoice_s_page_still_says_nothing_was_done(
    payments_on, browser, user_client, invoice
):
    user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")

    shown = browser.get(_page(invoice))

    page = shown.content.decode()
    assert shown.status_code == 409
    assert "Nothing was done" in page
    assert "/purchase/success" not in page
