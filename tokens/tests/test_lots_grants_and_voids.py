"""Lots: one burn order everywhere, exact expiry, refunds that give back to the same lots."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.errors import Invalid, InvalidState
from common.tests.helpers import database_state
from tokens import selectors, services
from tokens.models import TokenLot, TokenTransaction
from tokens.tests.factories import grant
from tokens.tests.lot_helpers import NOW, remaining

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_a_paid_plan_period_grants_its_included_tokens_until_it_ends(user, clock):
    plan = PlanFactory(included_tokens=500, billing_period="monthly")

    capture(checkout(user, plan=plan).invoice)

    lot = TokenLot.objects.get(category="included")
    assert (lot.amount, lot.expires_at) == (500, datetime(2026, 7, 1, 12, 0, tzinfo=UTC))


def test_a_negative_adjustment_burns_like_a_debit(user, staff_user, clock):
    first = grant(user, 3, priority=1)
    second = grant(user, 10, priority=2)

    services.tokens_adjust(user_id=user.pk, amount=-5, reason="oops", actor_id=staff_user.pk)

    assert remaining(first, second) == [0, 8]


def test_the_trial_comes_with_sign_up(settings, api_client, clock):
    settings.TRIAL_TOKENS, settings.TRIAL_DAYS = 3, 30

    response = api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": "a-long-password-1"}
    )

    lot = TokenLot.objects.get(account__user_id=response.json()["id"])
    assert (lot.category, lot.amount, lot.expires_at) == ("trial", 3, NOW + timedelta(days=30))


def test_the_trial_comes_with_a_user_added_in_the_admin(settings, staff_browser, clock):
    """A customer added by staff in the admin is a new user as one who signed up is; Django's
    add-user view saved them without announcing it, so they got no trial."""
    settings.TRIAL_TOKENS, settings.TRIAL_DAYS = 3, 30
    password = "a-long-password-1"

    response = staff_browser.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New@Example.com",
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )

    assert response.status_code == 302
    lot = TokenLot.objects.get(account__user__email="new@example.com")
    assert (lot.category, lot.amount, lot.expires_at) == ("trial", 3, NOW + timedelta(days=30))
    assert selectors.token_balance(user_id=lot.account.user_id).balance == 3


def test_no_trial_when_it_is_turned_off(settings, api_client):
    settings.TRIAL_TOKENS = 0

    api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": "a-long-password-1"}
    )

    assert not TokenLot.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"category": "paid"}, "category"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "expires_at"),
        ({"priority": 101}, "priority"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_a_refused_grant_names_its_field_and_writes_nothing(user, clock, fields, field):
    before = database_state()
    arguments = {"amount": 5, "category": "promotional", "reason": "gift", **fields}

    with pytest.raises(Invalid) as refused:
        services.lot_grant(user_id=user.pk, actor_id=None, **arguments)

    assert refused.value.field == field
    assert database_state() == before


def test_a_void_takes_what_is_left_once(user, clock):
    lot = grant(user, 10)
    services.tokens_debit(user_id=user.pk, amount=4)

    voided = services.lot_void(lot_id=lot.pk, reason="abuse", actor_id=None)

    assert (voided.amount, voided.lot.remaining, voided.lot.voided_at) == (6, 0, NOW)
    entry = TokenTransaction.objects.get(transaction_type="void")
    assert (entry.amount, entry.balance_after) == (-6, 0)
    with pytest.raises(InvalidState, match="This lot is voided already"):
        services.lot_void(lot_id=lot.pk, reason="again", actor_id=None)
