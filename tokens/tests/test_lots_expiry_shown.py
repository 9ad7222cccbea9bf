"""A lot expires exactly at the `expires_at` the API shows (docs/api.md: "A lot past its
`expires_at` is never spent, and its remaining tokens are never shown in a balance, from that
instant on"), also when it was made part-way through a second. The API writes times to the
second, so a lot made at 08:00:00.5 (a purchase, the trial, a plan's period) or granted to
expire at 08:00:00.25 showed 08:00:00Z and was still counted and spendable until then."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from conftest import client_for
from tokens.models import TokenAccount

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PART_WAY = datetime(2026, 7, 1, 8, 0, 0, 500_000, tzinfo=UTC)


def bought(user, staff_client, api_client):
    capture(
        checkout(user, bundles=[TokenBundleFactory(token_amount=40, expires_after_days=1)]).invoice
    )
    return user, PART_WAY + timedelta(days=1)


def included(user, staff_client, api_client):
    capture(checkout(user, plan=PlanFactory(included_tokens=40, billing_period="monthly")).invoice)
    return user, datetime(2026, 8, 1, 8, 0, 0, 500_000, tzinfo=UTC)


def granted(user, staff_client, api_client):
    promised = "2026-07-02T08:00:00.250000Z"
    response = staff_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/grants",
        {"amount": 40, "expires_at": promised, "reason": "gift"},
    )
    assert response.status_code == 201
    return user, datetime.fromisoformat(promised)


def trial(user, staff_client, api_client):
    response = api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": "a-long-password-1"}
    )
    return TokenAccount.objects.get(user_id=response.json()["id"]).user, PART_WAY + timedelta(
        days=30
    )


@pytest.mark.parametrize("make", [bought, included, granted, trial])
def test_a_lot_made_part_way_through_a_second_expires_at_the_time_it_shows(
    settings, user, staff_client, api_client, make
):
    settings.TRIAL_TOKENS, settings.TRIAL_DAYS = 40, 30
    with time_machine.travel(PART_WAY, tick=False) as clock:
        owner, promised = make(user, staff_client, api_client)
        client = client_for(owner)
        shown = datetime.fromisoformat(
            client.get("/api/v1/user/tokens/lots").json()["items"][0]["expires_at"]
        )

        clock.move_to(shown - timedelta(microseconds=1))
        just_before = client.get("/api/v1/user/tokens/balance").json()
        clock.move_to(shown)
        at_expiry = client.get("/api/v1/user/tokens/balance").json()
        spent = client.post("/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="u")

    assert (just_before["balance"], just_before["available"]) == (40, 40)
    assert (at_expiry["balance"], at_expiry["available"]) == (0, 0)
    assert (spent.status_code, spent.json()["code"]) == (402, "insufficient_tokens")
    assert shown >= promised  # never before what was promised
