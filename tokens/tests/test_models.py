"""The ledger is append-only in the ORM and in the database, and its constraints hold."""

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.tests.factories import UserFactory
from tokens.models import AppendOnlyError, TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    return fund(UserFactory(), 10)


def test_saving_an_existing_entry_raises(entry):
    entry.amount = 1_000_000

    with pytest.raises(AppendOnlyError):
        entry.save()


def test_deleting_an_entry_raises(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_queryset_update_and_delete_raise(entry):
    with pytest.raises(AppendOnlyError):
        TokenTransaction.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(AppendOnlyError):
        TokenTransaction.objects.all().delete()


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE tokens_tokentransaction SET amount = 999",
        "UPDATE tokens_tokentransaction SET description = 'rewritten'",
        "DELETE FROM tokens_tokentransaction",
    ],
)
def test_the_database_refuses_update_and_delete(entry, statement):
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)

    entry_now = TokenTransaction.objects.get(pk=entry.pk)
    assert (entry_now.amount, entry_now.description) == (10, "test funds")


def test_an_account_balance_cannot_go_below_zero_in_the_database(entry):
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenAccount.objects.filter(pk=entry.account_id).update(balance=-1)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"amount": 0, "transaction_type": "adjustment"}, "amount_not_0"),
        ({"amount": 5, "transaction_type": "usage"}, "sign_matches_type"),
        ({"amount": -5, "transaction_type": "purchase", "reference_id": "p"}, "sign_matches_type"),
        ({"amount": 5, "transaction_type": "purchase"}, "reference_required"),
        ({"amount": 5, "transaction_type": "adjustment", "balance_after": -1}, "balance_after"),
        ({"amount": 5, "transaction_type": "adjustment", "number": 1}, "account_number"),
    ],
)
def test_entry_constraints(entry, fields, why):
    values = {"account_id": entry.account_id, "number": 99, "balance_after": 15, **fields}

    with pytest.raises(IntegrityError, match=why), transaction.atomic():
        TokenTransaction.objects.create(**values)


def test_a_purchase_reference_is_credited_once(entry):
    values = {
        "account_id": entry.account_id,
        "amount": 5,
        "transaction_type": "purchase",
        "reference_type": "token_bundle_purchase",
        "reference_id": "p-1",
    }
    TokenTransaction.objects.create(number=2, balance_after=15, **values)

    with pytest.raises(IntegrityError, match="once_per_reference"), transaction.atomic():
        TokenTransaction.objects.create(number=3, balance_after=20, **values)


def test_one_account_per_user(entry):
    with pytest.raises(IntegrityError), transaction.atomic():
        TokenAccount.objects.create(user_id=entry.account.user_id)
