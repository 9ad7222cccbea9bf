import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def buy(client, bundles, submission=None):
    return client.post(
        reverse("pages:purchase"),
        {"bundles": [str(b.pk) for b in bundles], "submission": str(submission or uuid.uuid4())},
    )


def test_purchase_page_shows_cards_with_savings_and_one_best_value(browser, user, bundles):
    fund(user, 42)

    page = browser.get(reverse("pages:purchase")).content.decode()

    assert page.index("Taster") < page.index("Starter") < page.index("Team")
    assert page.count("Best value") == 1
    assert "Save 10%" in page
    assert "Save 99%" in page
    assert "$1.0000 per token" in page
    assert "You have <strong>42</strong> tokens" in page


def test_an_empty_selection_is_refused_and_writes_nothing(browser, bundles):
    before = database_state()

    response = buy(browser, [])

    assert response.status_code == 400
    assert "Choose at least one bundle, plan or add-on." in response.content.decode()
    assert database_state() == before


def test_an_unknown_bundle_is_refused(browser, bundles):
    before = database_state()

    response = browser.post(
        reverse("pages:purchase"), {"bundles": [str(uuid.uuid4())], "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 400
    assert database_state() == before


def test_buying_goes_to_stripe_checkout(browser, user, bundles, fake_stripe):
    response = buy(browser, bundles[:2])

    invoice = Invoice.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == fake_stripe.sessions[invoice.stripe_session_id]["url"]
    assert invoice.total == Decimal("55.00")


def test_without_stripe_buying_goes_to_the_test_payment_page_when_test_mode_is_on(
    browser, user, bundles, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True

    page = browser.get(reverse("pages:purchase")).content.decode()
    response = buy(browser, bundles[:2])

    invoice = Invoice.objects.get(user=user)
    assert "this server's test payment page (no money moves)" in page
    assert response.status_code == 302
    assert response["Location"] == f"/test-checkout/{invoice.pk}"
    assert invoice.status == "pending"


def test_stripe_wins_over_test_mode_when_it_is_configured(
    browser, user, bundles, fake_stripe, settings
):
    settings.PAYMENTS_TEST_MODE = True

    fake_stripe_url = buy(browser, bundles[:1])["Location"]

    invoice = Invoice.objects.get(user=user)
    assert fake_stripe_url == fake_stripe.sessions[invoice.stripe_session_id]["url"]


def test_with_no_payment_provider_buying_says_so_to_the_customer_and_orders_nothing(
    browser, user, bundles, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = False
    page = browser.get(reverse("pages:purchase")).content.decode()
    before = database_state()

    response = buy(browser, bundles[:1])

    assert "Buying is paused: payments are not" in page
    assert 'id="buy" disabled aria-describedby="payments-unavailable"' in page
    assert response.status_code == 200
    assert (
        "Payments are not available right now, so nothing was ordered and nothing was charged."
        in response.content.decode()
    )
    assert "STRIPE" not in response.content.decode()
    assert database_state() == before


def test_a_double_click_makes_one_checkout(browser, user, bundles, fake_stripe):
    submission = uuid.uuid4()

    first = buy(browser, bundles[:2], submission)
    second = buy(browser, bundles[:2], submission)

    assert first["Location"] == second["Location"]
    assert Invoice.objects.filter(user=user).count() == 1
    assert len(fake_stripe.sessions) == 1


def test_the_back_button_after_paying_leads_to_the_receipt(browser, user, bundles, fake_stripe):
    submission = uuid.uuid4()
    buy(browser, bundles[:1], submission)
    capture(Invoice.objects.get(user=user))

    again = buy(browser, bundles[:1], submission)

    invoice = Invoice.objects.get(user=user)
    assert again["Location"] == f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
    assert Invoice.objects.filter(user=user).count() == 1


def test_stripe_down_shows_a_message_and_keeps_the_page(browser, user, bundles, fake_stripe):
    fake_stripe.fail_next(1)

    response = buy(browser, bundles[:1])

    assert response.status_code == 200
    assert "could not be reached" in response.content.decode()


def test_a_forged_or_missing_csrf_token_is_403_and_writes_nothing(user, bundles, fake_stripe):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("pages:purchase"))
    before = database_state()

    missing = buy(client, bundles[:1])
    forged = client.post(
        reverse("pages:purchase"),
        {
            "bundles": [str(bundles[0].pk)],
            "submission": str(uuid.uuid4()),
            "csrfmiddlewaretoken": "x" * 64,
        },
    )

    assert missing.status_code == forged.status_code == 403
    assert "nothing was done" in missing.content.decode()
    assert database_state() == before


def test_the_receipt_shows_the_credited_tokens(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[1:]).invoice
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()

    assert invoice.number in page
    assert '<strong id="tokens-credited">1050</strong>' in page


def test_the_receipt_waits_for_a_pending_payment(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    pending = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()
    capture(invoice)
    settled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    assert "Waiting for the payment" in page
    assert pending == {
        "status": "pending",
        "settled": False,
        "tokens_credited": 0,
        "balance": 0,
        "plan_name": None,
        "plan_starts_at": None,
    }
    assert settled == {
        "status": "paid",
        "settled": True,
        "tokens_credited": 10,
        "balance": 10,
        "plan_name": None,
        "plan_starts_at": None,
    }


@pytest.mark.parametrize("name", ["purchase-success", "purchase-status"])
def test_another_users_invoice_is_404(browser, bundles, name):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice

    for value in [theirs.pk, "not-a-uuid", ""]:
        assert browser.get(reverse(f"pages:{name}"), {"invoice": value}).status_code == 404


def test_cancel_page_says_nothing_was_charged(browser):
    page = browser.get(reverse("pages:purchase-cancel")).content.decode()

    assert "Nothing was charged" in page
    assert reverse("pages:purchase") in page
