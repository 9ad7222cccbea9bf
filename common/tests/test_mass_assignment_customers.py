"""Mass assignment: fields a client may not set are ignored, and a request changes nothing but
what it is for. Each test sends what an attacker would add and compares the whole database
before and after.

"""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from common.tests.mass_assignment_helpers import LONG_AGO, changed_models
from conftest import client_for
from tokens.models import TokenAccount, TokenLot, TokenTransaction
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def test_consume_debits_only_the_caller_whatever_the_body_names(user):
    fund(user, 100)
    victim = UserFactory()
    fund(victim, 50)
    victim_account = TokenAccount.objects.get(user=victim)
    before = database_state()

    response = client_for(user).post(
        "/api/v1/user/tokens/consume",
        {
            "amount": 5,
            "balance": 1_000_000,
            "user_id": str(victim.pk),
            "account_id": str(victim_account.pk),
            "transaction_type": "purchase",
            "balance_after": 999,
            "number": 1,
            "created_by": str(victim.pk),
        },
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert response.status_code == 201
    assert response.json()["balance"] == 95
    entry = TokenTransaction.objects.get(pk=response.json()["transaction"]["id"])
    assert (entry.account.user_id, entry.transaction_type, entry.amount, entry.balance_after) == (
        user.pk,
        "usage",
        -5,
        95,
    )
    assert (entry.number, entry.created_by_id) == (2, None)
    assert TokenAccount.objects.get(user=victim).balance == 50
    assert changed_models(before) == {
        "tokens.TokenAccount": (1, 1),
        "tokens.TokenTransaction": (1, 0),
        "tokens.TokenLot": (1, 1),
        "tokens.TokenAllocation": (1, 0),
        "tokens.UsageRecord": (1, 0),
        "common.IdempotencyRecord": (1, 0),
    }
    assert TokenLot.objects.get(account__user=victim).remaining == 50


def test_usage_charges_only_the_caller_at_the_price_it_names_itself(user):
    fund(user, 100)
    victim = UserFactory()
    fund(victim, 50)
    before = database_state()

    response = client_for(user).post(
        "/api/v1/user/usage",
        {
            "amount": 5,
            "feature": "design",
            "user_id": str(victim.pk),
            "charged": 0,
            "source": "subscription",
            "refunded_at": LONG_AGO,
            "created_at": LONG_AGO,
            "allocations": [{"lot_id": str(uuid4()), "amount": 5}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    usage = response.json()["usage"]
    assert response.status_code == 201
    assert (usage["user_id"], usage["charged"], usage["source"], usage["refunded_at"]) == (
        str(user.pk),
        5,
        "tokens",
        None,
    )
    assert usage["created_at"] != LONG_AGO
    assert TokenAccount.objects.get(user=victim).balance == 50
    assert changed_models(before) == {
        "tokens.TokenAccount": (1, 1),
        "tokens.TokenTransaction": (1, 0),
        "tokens.TokenLot": (1, 1),
        "tokens.TokenAllocation": (1, 0),
        "tokens.UsageRecord": (1, 0),
        "common.IdempotencyRecord": (1, 0),
    }


def test_checkout_takes_prices_owner_and_status_from_nowhere_but_the_catalog(user):
    bundle = TokenBundleFactory(token_amount=1000, price=Decimal("5.00"))
    victim = UserFactory()
    before = database_state()

    response = client_for(user).post(
        "/api/v1/user/checkout",
        {
            "token_bundle_ids": [str(bundle.pk)],
            "user_id": str(victim.pk),
            "status": "paid",
            "total_amount": "0.01",
            "subtotal": "0.01",
            "price": "0.01",
            "unit_price": "0.01",
            "prices": {str(bundle.pk): "0.01"},
            "paid_at": LONG_AGO,
            "payment_reference": "free",
            "provider": "manual",
            "number": "INV-1999-000001",
        },
    )

    assert response.status_code == 201
    invoice = Invoice.objects.get(pk=response.json()["invoice"]["id"])
    assert (invoice.user_id, invoice.status, invoice.total, invoice.subtotal) == (
        user.pk,
        "pending",
        Decimal("5.00"),
        Decimal("5.00"),
    )
    assert (invoice.paid_at, invoice.payment_reference, invoice.provider) == (None, "", "")
    assert invoice.number.startswith(f"INV-{datetime.now(UTC).year}-")
    assert invoice.line_items.get().unit_price == Decimal("5.00")
    assert not Invoice.objects.filter(user=victim).exists()
    assert set(changed_models(before)) == {
        "billing.Invoice",
        "billing.InvoiceLineItem",
        "billing.InvoiceSequence",
        "billing.TokenBundlePurchase",
    }
