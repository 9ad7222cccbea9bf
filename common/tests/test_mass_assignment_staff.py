"""Mass assignment: fields a client may not set are ignored, and a request changes nothing but
what it is for. Each test sends what an attacker would add and compares the whole database
before and after.

"""

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from billing.models import Invoice
from billing.tests.helpers import checkout
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from common.tests.mass_assignment_helpers import LONG_AGO, changed_models
from tokens.models import TokenAccount, TokenLot, TokenTransaction
from tokens.tests.factories import grant

pytestmark = pytest.mark.django_db


def test_register_ignores_staff_superuser_id_and_activity(api_client):
    forced_id = uuid4()
    before = database_state()

    response = api_client.post(
        "/api/v1/auth/register",
        {
            "email": "mallory@example.com",
            "password": PASSWORD,
            "is_staff": True,
            "is_superuser": True,
            "id": str(forced_id),
            "is_active": False,
            "date_joined": LONG_AGO,
            "groups": [1],
        },
    )

    assert response.status_code == 201
    user = User.objects.get(email="mallory@example.com")
    assert response.json() == {"id": str(user.pk), "email": "mallory@example.com"}
    assert user.pk != forced_id
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.date_joined.year == datetime.now(UTC).year
    assert not user.groups.exists()
    assert changed_models(before) == {"accounts.User": (1, 0)}


def test_a_staff_update_changes_the_named_field_its_version_and_nothing_else(staff_client):
    bundle = TokenBundleFactory(name="Old", price=Decimal("3.00"))
    before = database_state()

    response = staff_client.patch(
        f"/api/v1/admin/token-bundles/{bundle.pk}",
        {
            "name": "Renamed",
            "id": str(uuid4()),
            "created_at": LONG_AGO,
            "updated_at": LONG_AGO,
            "price_per_token": "0.0001",
            "savings_percent": 99,
            "is_best_value": True,
        },
    )

    assert response.status_code == 200
    assert response.json()["id"] == str(bundle.pk)
    now = TokenBundle.objects.get(pk=bundle.pk)
    assert (now.name, now.version, now.price) == ("Renamed", 2, Decimal("3.00"))
    assert now.created_at == bundle.created_at
    assert now.updated_at > bundle.updated_at
    # The catalog's version moves with any change to it (the public listings' cache key), as
    # the change commits on PostgreSQL: this test's transaction never does, so its pending
    # triggers are fired here.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert changed_models(before) == {
        "catalog.TokenBundle": (1, 1),
        "catalog.CatalogVersion": (1, 1),
    }


def test_a_staff_adjustment_is_the_staff_members_on_the_named_user_whatever_the_body_says(
    staff_client, staff_user, user
):
    victim = UserFactory()
    before = database_state()

    response = staff_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust",
        {
            "amount": 10,
            "reason": "goodwill",
            "user_id": str(victim.pk),
            "transaction_type": "purchase",
            "balance_after": 1_000,
            "created_by": str(victim.pk),
            "reference_id": "forged",
        },
    )

    assert response.status_code == 201
    entry = TokenTransaction.objects.get(pk=response.json()["id"])
    assert (entry.account.user_id, entry.transaction_type, entry.amount) == (
        user.pk,
        "adjustment",
        10,
    )
    assert (entry.balance_after, entry.created_by_id, entry.reference_id) == (
        10,
        staff_user.pk,
        "",
    )
    assert set(changed_models(before)) == {
        "tokens.TokenAccount",
        "tokens.TokenTransaction",
        "tokens.TokenLot",
        "tokens.TokenAllocation",
    }
    assert not TokenAccount.objects.filter(user=victim).exists()


def test_a_staff_grant_makes_a_full_lot_whatever_the_body_says(staff_client, user):
    response = staff_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/grants",
        {
            "amount": 20,
            "category": "promotional",
            "reason": "launch",
            "remaining": 1_000_000,
            "source_type": "token_bundle_purchase",
            "credit_id": str(uuid4()),
            "id": str(uuid4()),
        },
    )

    assert response.status_code == 201
    lot = TokenLot.objects.get(pk=response.json()["id"])
    assert (lot.amount, lot.remaining, lot.source_type) == (20, 20, "grant")
    assert TokenAccount.objects.get(user=user).balance == 20


def test_a_staff_void_takes_what_is_left_whatever_the_body_says(staff_client, user):
    lot = grant(user, 30)

    response = staff_client.post(
        f"/api/v1/admin/lots/{lot.pk}/void", {"reason": "abuse", "remaining": 29, "amount": 1}
    )

    assert response.status_code == 200
    lot.refresh_from_db()
    assert (lot.amount, lot.remaining) == (30, 0)
    assert TokenAccount.objects.get(user=user).balance == 0


def test_staff_mark_paid_is_a_manual_payment_now_whatever_the_body_says(staff_client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice

    response = staff_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid",
        {
            "payment_reference": "wire-7",
            "provider": "stripe",
            "status": "refunded",
            "paid_at": LONG_AGO,
            "total": "0.01",
        },
    )

    assert response.status_code == 200
    invoice.refresh_from_db()
    assert (invoice.status, invoice.provider, invoice.payment_reference) == (
        "paid",
        "manual",
        "wire-7",
    )
    assert invoice.paid_at.year == datetime.now(UTC).year
    assert invoice.total == Decimal("5.00")
    assert TokenAccount.objects.get(user=user).balance == 10


def test_staff_refund_ignores_a_body(staff_client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=10)]).invoice
    staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "w"})

    response = staff_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/refund",
        {"status": "paid", "tokens_reversed": 0, "tokens_unrecovered": 10},
    )

    assert response.status_code == 200
    [purchase] = response.json()["token_purchases"]
    assert (purchase["tokens_reversed"], purchase["tokens_unrecovered"]) == (10, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
