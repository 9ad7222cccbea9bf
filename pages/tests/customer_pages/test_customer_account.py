"""The customer's side: the price list, the landing page, invoices with Pay, Cancel and PDF
receipts, plans and add-ons on the purchase page, and the account page. Every refusal is
followed by a check that nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import PASSWORD
from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state
from tokens.services.alerts import alerts_get
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db


def test_the_account_page_shows_email_plan_period_tokens_and_what_expires(browser, user, plans):
    capture(checkout(user, plan=plans[0]).invoice)
    fund(user, 7)
    soon = grant(user, 5, expires_at=timezone.now() + timedelta(days=3)).expires_at

    response = browser.get(reverse("pages:account"))

    page = response.content.decode()
    subscription = Subscription.objects.get(user=user)
    assert user.email in page
    assert "Monthly (monthly)" in page
    start, end = subscription.starts_at, subscription.expires_at
    assert f"{start:%-d %b %Y, %H:%M} UTC to {end:%-d %b %Y, %H:%M} UTC" in page
    by_category = response.context["summary"].balance.by_category
    assert by_category == {"trial": 0, "promotional": 12, "included": 40, "paid": 0}
    assert f'5 tokens on <time datetime="{soon:%Y-%m-%dT%H:%M:%S}' in page
    assert reverse("pages:usage") in page
    assert reverse("pages:invoices") in page


def test_changing_the_password_keeps_the_session_signed_in(browser, user):
    response = browser.post(
        reverse("pages:account-password"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-2026",
            "new_password2": "a-new-long-passphrase-2026",
        },
    )

    user.refresh_from_db()
    assert response.status_code == 302
    assert user.check_password("a-new-long-passphrase-2026")
    assert browser.get(reverse("pages:account")).status_code == 200


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("wrong-password", "a-new-long-passphrase-2026", "old password was entered incorrectly"),
        (PASSWORD, "123", "too short"),
    ],
)
def test_a_refused_password_change_changes_nothing(browser, old, new, message):
    before = database_state()

    response = browser.post(
        reverse("pages:account-password"),
        {"old_password": old, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert database_state() == before


@pytest.mark.parametrize(
    ("form", "stored"),
    [
        ({"when": "own", "threshold": "25"}, 25),
        ({"when": "never", "threshold": ""}, 0),
        ({"when": "default", "threshold": "999"}, None),
    ],
)
def test_the_low_balance_threshold_is_set_from_the_account_page(browser, user, form, stored):
    response = browser.post(reverse("pages:account-alerts"), form)

    assert response.status_code == 302
    assert alerts_get(user_id=user.pk) == stored


@pytest.mark.parametrize(
    "form",
    [
        {"when": "own", "threshold": ""},
        {"when": "own", "threshold": "-1"},
        {"when": "sometimes"},
        {"when": "own", "threshold": "99999999999"},
    ],
)
def test_a_refused_threshold_changes_nothing(browser, form):
    before = database_state()

    response = browser.post(reverse("pages:account-alerts"), form)

    assert response.status_code == 400
    assert database_state() == before


@pytest.mark.parametrize("name", ["account", "invoices", "account-password", "account-alerts"])
def test_the_customer_pages_need_a_signed_in_user(client, name):
    response = client.get(reverse(f"pages:{name}"))

    assert response.status_code in {302, 405}
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("pages:sign-in"))
