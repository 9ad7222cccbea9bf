"""The customer's pages under odd use: dates at the edge of the calendar, a signed-in user
sent to sign in, a purchase page sent again with other choices or after a cancel, and
private pages that no cache keeps."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from billing import services as billing
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True


def buy(client, bundles, submission):
    return client.post(
        reverse("pages:purchase"),
        {"bundles": [str(b.pk) for b in bundles], "submission": str(submission)},
    )


def test_a_changed_selection_sent_with_the_same_submission_is_not_paid_as_the_first(
    browser, user, bundles, test_mode
):
    """The purchase page keeps its `submission` when it comes back from the browser's
    back/forward cache (site.js recomputes the total on `pageshow`) and when it is shown again
    after a refusal. Buying other bundles with it reaches checkout_create with the same
    idempotency key, which answers the FIRST checkout: the customer is sent to pay the
    bundles they chose before, not the ones on the screen, and nothing says so."""
    submission = uuid.uuid4()
    first = buy(browser, bundles[:1], submission)
    first_invoice = Invoice.objects.get(user=user)
    assert first["Location"] == f"/test-checkout/{first_invoice.pk}"

    changed = buy(browser, bundles[1:3], submission)

    # Either the bundles on the screen are checked out and paid, or the customer is told the
    # page is out of date; never sent to pay the first choice.
    if changed.status_code == 302:
        assert changed["Location"] != f"/test-checkout/{first_invoice.pk}"
        bought = {
            purchase.bundle_id
            for invoice in Invoice.objects.filter(user=user, status="pending")
            for purchase in invoice.token_purchases.all()
        }
        assert {bundles[1].pk, bundles[2].pk} <= bought
    else:
        assert 400 <= changed.status_code < 500


def test_choosing_again_after_a_cancelled_purchase_can_buy(browser, user, bundles, test_mode):
    """When the submission's invoice was cancelled the page says "That purchase was cancelled;
    choose your bundles again." but renders the form with the same `submission` (a bound
    form shows the posted value, not the fresh initial one), so choosing again and pressing
    Buy answers the same refusal, for ever, until the customer reloads the page."""
    submission = uuid.uuid4()
    buy(browser, bundles[:1], submission)
    billing.invoice_cancel(invoice_id=Invoice.objects.get(user=user).pk, user_id=user.pk)

    refused = buy(browser, bundles[:1], submission)
    page = refused.content.decode()
    assert "That purchase was cancelled; choose your bundles again." in page
    shown = re.search(r'name="submission" value="([^"]+)"', page).group(1)

    again = buy(browser, bundles[:1], shown)

    assert again.status_code == 302
    assert Invoice.objects.filter(user=user, status="pending").count() == 1


def test_the_receipt_counts_the_tokens_a_plan_includes(browser, user, bundles):
    """A plan's included tokens are credited when its invoice is paid, but the receipt
    counted bundle purchases only: buying a plan with 40 tokens a month (and a bundle of 10)
    said "10 tokens were added. Your balance is 50 tokens."."""
    plan = PlanFactory(included_tokens=40)
    invoice = checkout(user, plan=plan, bundles=bundles[:1]).invoice
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    polled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    assert '<strong id="tokens-credited">50</strong>' in page
    assert '<strong id="new-balance">50</strong>' in page
    assert polled == {
        "status": "paid",
        "settled": True,
        "tokens_credited": 50,
        "balance": 50,
        "plan_name": None,
        "plan_starts_at": None,
    }


def test_the_receipt_of_a_cancelled_checkout_says_it_was_cancelled(browser, user, bundles):
    """A checkout cancelled while the customer was paying (an add-on checkout its plan's
    refund cancels, a Cancel in another tab) counted as settled: the receipt said "Payment
    received: 0 tokens were added." The poll's answer stays as it was; the page tells the
    truth."""
    invoice = checkout(user, bundles=bundles[:1]).invoice
    billing.invoice_cancel(invoice_id=invoice.pk, user_id=user.pk)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    polled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    state = re.search(r'<p id="payment-state"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "Payment received" not in page
    assert "Thank you for your purchase" not in page
    assert " ".join(state.split()) == (
        "This checkout was cancelled: no tokens were added and it can no longer be paid. "
        "If you were charged for it, the payment is not kept: it is reviewed to be refunded."
    )
    assert polled == {
        "status": "cancelled",
        "settled": True,
        "tokens_credited": 0,
        "balance": 0,
        "plan_name": None,
        "plan_starts_at": None,
    }
