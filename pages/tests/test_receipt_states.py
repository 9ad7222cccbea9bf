"""The receipt page (where a payment comes back to) tells the invoice's state as it is now."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import transaction
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.services.refunds import invoice_refund
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory
from pages.tests.browsing import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def _state(page: str) -> str:
    return " ".join(re.search(r'<p id="payment-state"[^>]*>(.*?)</p>', page, re.S).group(1).split())


def test_the_receipt_of_a_refunded_purchase_says_it_was_refunded(browser, user, bundles):
    """Reached by the back button's Buy after a refund (purchase_start sends a refunded
    invoice there) or a bookmark, it said "Thank you for your purchase. Payment received: 10
    tokens were added." while the tokens had been taken back."""
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)
    invoice_refund(invoice_id=invoice.pk)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()

    assert "Payment received" not in page
    assert "Thank you" not in page
    assert '<h1 id="receipt-heading">This purchase was refunded</h1>' in page
    assert _state(page).startswith("This purchase was refunded on ")
    assert "its tokens not yet used were taken back" in _state(page)
    assert reverse("pages:invoice", args=[invoice.pk]) in _state(page)


def test_buying_again_from_the_same_page_after_a_refund_lands_on_that_receipt(
    browser, user, bundles, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    submission = str(uuid.uuid4())
    form = {"bundles": [str(bundles[0].pk)], "submission": submission}
    browser.post(reverse("pages:purchase"), form)
    invoice = Invoice.objects.get(user=user)
    capture(invoice)
    invoice_refund(invoice_id=invoice.pk)

    again = browser.post(reverse("pages:purchase"), form, follow=True)

    assert Invoice.objects.filter(user=user).count() == 1
    assert "This purchase was refunded" in again.content.decode()


def test_a_paid_receipt_still_thanks(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()

    assert "Thank you for your purchase" in page
    assert _state(page).startswith("Payment received: ")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_waiting_receipt_says_so_when_its_purchase_is_paid_and_refunded(
    page: Page, live_server, bundles
):
    """The poll stops at the first settled state it reads; paid and refunded together (one
    commit, so no poll reads the paid state between), it read 'refunded' as a payment."""
    user = UserFactory()
    invoice = checkout(user, bundles=bundles[:1]).invoice
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/purchase/success?invoice={invoice.pk}")
    state = page.locator("#payment-state")
    expect(state).to_contain_text("Waiting for the payment")

    with transaction.atomic():
        capture(invoice)
        invoice_refund(invoice_id=invoice.pk)

    expect(state).to_contain_text("This purchase was refunded: the payment is returned to you")
    expect(state).not_to_contain_text("Payment received")
    expect(page.get_by_role("heading", level=1)).to_have_text("This purchase was refunded")
    assert page.console.errors == []


def test_coming_back_from_a_cancelled_payment_points_to_the_invoice_still_open(
    browser, user, bundles
):
    """Stripe's and the test page's way back name the invoice; the page said only "Nothing
    was charged" and "Try again" to an empty purchase page, so the invoice stayed open
    without a word and choosing the cart again was a second invoice for it."""
    invoice = checkout(user, bundles=bundles[:2]).invoice
    someone_elses = checkout(UserFactory(), bundles=bundles[:1]).invoice
    url = reverse("pages:purchase-cancel")

    own = browser.get(url, {"invoice": invoice.pk}).content.decode()
    other = browser.get(url, {"invoice": someone_elses.pk})
    unknown = browser.get(url, {"invoice": "not-an-id"})

    assert "Nothing was charged." in own
    assert f"Invoice {invoice.number} for $55.00 is still open" in own
    assert f'href="{reverse("pages:invoice", args=[invoice.pk])}"' in own
    assert (other.status_code, unknown.status_code) == (200, 200)
    assert someone_elses.number not in other.content.decode()
    assert "still open" not in other.content.decode() + unknown.content.decode()


def _add_on_bought_alone(user):
    capture(checkout(user, plan=PlanFactory(included_tokens=0)).invoice, "pay-plan")
    return checkout(user, add_ons=[AddOnFactory(name="Priority support")]).invoice


def test_a_purchase_that_adds_no_tokens_does_not_say_0_were_added(browser, user):
    """An add-on bought alone credits no tokens; the receipt said "Payment received: 0
    tokens were added.", which reads as if the payment had gone astray."""
    invoice = _add_on_bought_alone(user)
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()

    assert (
        _state(page)
        == 'Payment received. Your balance is <strong id="new-balance">0</strong> tokens.'
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_waiting_receipt_of_no_tokens_says_payment_received(page: Page, live_server):
    user = UserFactory()
    invoice = _add_on_bought_alone(user)
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/purchase/success?invoice={invoice.pk}")
    state = page.locator("#payment-state")
    expect(state).to_contain_text("Waiting for the payment")

    capture(invoice)

    expect(state).to_have_text("Payment received. Your balance is 0 tokens.")
    assert page.console.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_waiting_receipt_of_a_renewal_says_when_its_period_starts(page: Page, live_server):
    """A plan paid again while it runs starts where the running period ends; the receipt
    said only "Payment received" once the payment came in."""
    user = UserFactory()
    plan = PlanFactory(name="Monthly", included_tokens=0)
    capture(checkout(user, plan=plan).invoice, "pay-plan")
    renewal = checkout(user, plan=plan).invoice
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/purchase/success?invoice={renewal.pk}")
    state = page.locator("#payment-state")
    expect(state).to_contain_text("Waiting for the payment")

    capture(renewal, "pay-renewal")

    starts = renewal.subscriptions.get().starts_at
    expect(state).to_have_text(
        "Payment received. Your balance is 0 tokens. Your Monthly plan's new period starts on "
        f"{starts.day} {starts:%b %Y, %H:%M} UTC, when the one running now ends."
    )
    assert page.console.errors == []


@pytest.mark.parametrize("refunded", [False, True])
def test_the_way_back_from_an_invoice_paid_since_leads_to_its_receipt(
    browser, user, bundles, refunded
):
    """Back through the history to the cancel page after paying the invoice from its own
    page (or a bookmark of it) said "Nothing was charged. Your balance is unchanged." of a
    payment that was taken, and its tokens credited."""
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)
    if refunded:
        invoice_refund(invoice_id=invoice.pk)

    response = browser.get(reverse("pages:purchase-cancel"), {"invoice": invoice.pk})

    assert "Nothing was charged" not in response.content.decode()
    assert response.status_code == 302
    assert response.url == f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
