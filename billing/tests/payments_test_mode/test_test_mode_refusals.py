"""The `test` payment provider: the pay API, its checkout page, Pay and Decline, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.services import payments_test_mode
from billing.tests.helpers import checkout
from billing.tests.payments_test_mode.helpers import decide, open_form, page_url
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_decline_leaves_the_invoice_pending_and_writes_nothing(payments_on, browser, user, invoice):
    token = open_form(browser, invoice)
    before = database_state()

    response = decide(browser, invoice, token, "decline")

    assert response.status_code == 302
    assert response["Location"] == f"/purchase/cancel?invoice={invoice.pk}"
    assert database_state() == before
    assert decide(browser, invoice, open_form(browser, invoice)).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_another_users_invoice_is_404_and_writes_nothing(payments_on, browser, invoice):
    other = Client()
    other.force_login(UserFactory())
    token = open_form(browser, invoice)
    before = database_state()

    shown = other.get(page_url(invoice))
    paid = decide(other, invoice, token)

    assert shown.status_code == paid.status_code == 404
    assert database_state() == before


def forged_token(invoice, owner, **changes) -> str:
    """A well-signed token, with `changes` to its claims."""
    claims = {"invoice": str(invoice.pk), "user": str(owner.pk), "nonce": "a" * 32, **changes}
    return signing.dumps(claims, salt=payments_test_mode.FORM_SALT)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda invoice, user: "not-a-token", id="malformed"),
        pytest.param(
            lambda invoice, user: forged_token(invoice, user)[:-2] + "xx", id="bad-signature"
        ),
        pytest.param(
            lambda invoice, user: signing.dumps({"invoice": str(invoice.pk)}, salt="other"),
            id="other-salt",
        ),
        pytest.param(
            lambda invoice, user: forged_token(invoice, user, user=str(UserFactory().pk)),
            id="other-user",
        ),
        pytest.param(
            lambda invoice, user: forged_token(
                checkout(user, bundles=[TokenBundleFactory()]).invoice, user
            ),
            id="other-invoice",
        ),
        pytest.param(lambda invoice, user: forged_token(invoice, user, nonce=7), id="bad-nonce"),
        pytest.param(lambda invoice, user: "", id="missing"),
    ],
)
@pytest.mark.parametrize("decision", ["pay", "decline"])
def test_a_foreign_or_forged_form_is_400_and_writes_nothing(
    payments_on, browser, user, invoice, make_token, decision
):
    token = make_token(invoice, user)
    before = database_state()

    response = decide(browser, invoice, token, decision)

    assert response.status_code == 400
    assert "Open the payment page again" in response.content.decode()
    assert database_state() == before


def test_an_expired_form_is_400_and_writes_nothing(payments_on, browser, invoice, monkeypatch):
    token = open_form(browser, invoice)
    later = timezone.now() + payments_test_mode.FORM_MAX_AGE + timedelta(seconds=1)
    monkeypatch.setattr("time.time", lambda: later.timestamp())
    before = database_state()

    response = decide(browser, invoice, token)

    assert response.status_code == 400
    assert database_state() == before


def test_an_unknown_decision_is_400_and_writes_nothing(payments_on, browser, invoice):
    token = open_form(browser, invoice)
    before = database_state()

    response = decide(browser, invoice, token, "refund")

    assert response.status_code == 400
    assert database_state() == before


def test_a_cancelled_invoice_is_a_409_page(payments_on, browser, user_client, invoice):
    token = open_form(browser, invoice)
    user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")
    before = database_state()

    shown = browser.get(page_url(invoice))
    paid = decide(browser, invoice, token)

    assert shown.status_code == paid.status_code == 409
    assert "is cancelled" in paid.content.decode()
    assert database_state() == before


def test_a_pay_without_the_csrf_token_is_403_and_writes_nothing(payments_on, user, invoice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    token = open_form(client, invoice)
    before = database_state()

    response = decide(client, invoice, token)

    assert response.status_code == 403
    assert database_state() == before
