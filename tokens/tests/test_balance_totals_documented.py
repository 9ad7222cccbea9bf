"""docs/api.md tells an integrator how the balance follows from `total_purchased` and
`total_spent` and the other entries: `balance = total_purchased - total_spent + ...`. A client
reconciling its own books with that formula must get the balance the API answers, so the
formula is read from the document and checked on an account with every kind of entry."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from tokens.models import TokenTransaction
from tokens.services import lot_void, lots_expire
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def documented_terms() -> list[str]:
    """The entry types docs/api.md adds to `total_purchased - total_spent` (a plural is read
    as its type: `adjustments` is `adjustment`)."""
    text = (ROOT / "docs" / "api.md").read_text()
    formula = re.search(r"`balance = total_purchased - total_spent \+ ([^`]+)`", text)
    assert formula, "docs/api.md no longer states the balance formula"
    return [term.strip().removesuffix("s") for term in formula.group(1).split("+")]


def test_the_documented_formula_gives_the_balance_with_grants_expirations_and_voids(
    user, user_client
):
    """It said `+ adjustments` alone, from before credit lots: the trial, staff grants and a
    plan's included tokens (`grant`), expired tokens (`expiration`) and voided ones (`void`)
    move the balance and neither total, so the formula missed them (a new user with the
    3 trial tokens has a balance of 3 and both totals 0)."""
    terms = documented_terms()
    assert set(terms) <= set(TokenTransaction.Type.values), terms
    with time_machine.travel(START, tick=False):
        capture(checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice)
        fund(user, 7)
        grant(user, 5, expires_at=START + timedelta(days=1))
        voided = grant(user, 4)
        lot_void(lot_id=voided.pk, reason="test", actor_id=None)
        consumed = user_client.post(
            "/api/v1/user/tokens/consume", {"amount": 3}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
        )
        assert consumed.status_code == 201
    with time_machine.travel(START + timedelta(days=2), tick=False):
        lots_expire()
        answer = user_client.get("/api/v1/user/tokens/balance").json()
    entries = TokenTransaction.objects.filter(account__user=user)
    others = sum(entry.amount for entry in entries if entry.transaction_type in terms)

    assert {entry.transaction_type for entry in entries} >= {"grant", "expiration", "void"}
    assert answer["balance"] == answer["total_purchased"] - answer["total_spent"] + others
