"""The `test` payment provider: the pay API, its checkout page, Pay and Decline, refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.core.checks import run_checks
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Invoice, PaymentEvent
from billing.services import payments_test_mode
from billing.services.reconcile import ReconcileReport, paid_invoices_complete
from billing.services.refunds import invoice_refund
from billing.services.reprocess import payment_event_reprocess
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.concurrency import run_together
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


def page_url(invoice) -> str:
    return f"/test-checkout/{invoice.pk}"


def open_form(client, invoice) -> str:
    """Opens the page as a browser would; returns the one-time token its form carries."""
    response = client.get(page_url(invoice))
    assert response.status_code == 200
    return response.context["form"].initial["form_token"]


def decide(client, invoice, token: str, decision: str = "pay"):
    return client.post(page_url(invoice), {"form_token": token, "decision": decision})


# The pay API.


def test_pay_with_the_test_provider_answers_the_page_of_this_server(
    payments_on, user_client, invoice
):
    before = database_state()

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert response.status_code == 200
    assert response.json() == {
        "provider": "test",
        "checkout_url": f"http://testserver/test-checkout/{invoice.pk}",
    }
    assert database_state() == before


def test_with_test_mode_off_the_test_provider_is_400_naming_it(user_client, invoice):
    before = database_state()

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["fields"] == {
        "provider": ["Test payments are off on this server (PAYMENTS_TEST_MODE)."]
    }
    assert database_state() == before


def test_the_test_provider_refuses_another_users_or_a_paid_invoice(
    payments_on, user_client, invoice
):
    theirs = checkout(UserFactory(), bundles=[TokenBundleFactory()]).invoice
    capture(invoice)
    before = database_state()

    other = user_client.post(f"/api/v1/user/invoices/{theirs.pk}/pay", {"provider": "test"})
    paid = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert other.status_code == 404
    assert (paid.status_code, paid.json()["code"]) == (409, "invalid_state")
    assert database_state() == before


# The page.


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


# The page met again after its invoice was paid (Back onto it, or Pay pressed twice before the
# page's script disabled the button: the browser shows the second answer): still a 409 that
# does nothing, but it says the invoice is paid and leads to the receipt, as the purchase
# page does, instead of "Nothing was done".


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


def test_check_deploy_warns_while_test_payments_are_on(settings):
    settings.PAYMENTS_TEST_MODE = False
    quiet = [message.id for message in run_checks(include_deployment_checks=True)]
    settings.PAYMENTS_TEST_MODE = True

    warned = [message.id for message in run_checks(include_deployment_checks=True)]

    assert "billing.W001" not in quiet
    assert "billing.W001" in warned


@pytest.mark.django_db(transaction=True)
def test_the_same_pay_posted_8_times_at_once_captures_once(payments_on, user, invoice):
    clients = [Client() for _ in range(8)]
    for client in clients:
        client.force_login(user)
    token = open_form(clients[0], invoice)

    responses = run_together([lambda c=c: decide(c, invoice, token) for c in clients], workers=8)

    assert sorted(response.status_code for response in responses) == [302] + [409] * 7
    assert PaymentEvent.objects.filter(provider="test").count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert token_balance(user_id=user.pk).balance == 50


@pytest.mark.django_db(transaction=True)
def test_two_pages_paid_at_once_capture_once(payments_on, user, invoice):
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(user)
    tokens = [open_form(client, invoice) for client in clients]

    responses = run_together(
        [
            lambda: decide(clients[0], invoice, tokens[0]),
            lambda: decide(clients[1], invoice, tokens[1]),
        ],
        workers=2,
    )

    assert sorted(response.status_code for response in responses) == [302, 409]
    assert PaymentEvent.objects.filter(provider="test").count() == 1
    assert token_balance(user_id=user.pk).balance == 50


def test_staff_re_processing_a_failed_test_payment_captures_it_as_a_test_payment(user, invoice):
    event = PaymentEvent.objects.create(
        provider="test",
        event_id="test_" + "b" * 32,
        event_type="payment.captured",
        signature_valid=True,
        outcome="failed",
        payload=json.dumps(
            {
                "event_id": "test_" + "b" * 32,
                "invoice_id": str(invoice.pk),
                "payment_reference": "test_" + "b" * 32,
                "amount": "45.99",
                "currency": "USD",
            }
        ),
    )

    outcome = payment_event_reprocess(event_id=event.pk)

    invoice.refresh_from_db()
    assert outcome == "processed"
    assert (invoice.status, invoice.provider) == ("paid", "test")
    assert token_balance(user_id=user.pk).balance == 50
