"""The migration that turns existing histories into lots changes no balance and no entry, and
the ledger's audit passes after it."""

import uuid
from datetime import UTC, datetime, timedelta

from tokens.selectors import ledger_check

BEFORE_LOTS = ("tokens", "0003_history_by_type_index")
WITH_LOTS = ("tokens", "0006_lots_from_history")
START = datetime(2025, 1, 1, tzinfo=UTC)


def write_history(apps, email: str, steps: list[tuple]) -> tuple:
    """An account and its entries as the ledger before lots wrote them; returns the account and
    the entries by step index."""
    User = apps.get_model("accounts", "User")
    Account = apps.get_model("tokens", "TokenAccount")
    Entry = apps.get_model("tokens", "TokenTransaction")
    user = User.objects.create(email=email, password="!")
    account = Account.objects.create(user=user)
    entries, balance, purchased, spent = [], 0, 0, 0
    for number, (kind, amount, reference) in enumerate(steps, start=1):
        if kind == "refund":
            reference = str(entries[reference].id)
        balance += amount
        purchased += amount if kind in ("purchase", "reversal") else 0
        spent -= amount if kind in ("usage", "refund") else 0
        entries.append(
            Entry.objects.create(
                id=uuid.uuid4(),
                account=account,
                number=number,
                amount=amount,
                transaction_type=kind,
                reference_type={
                    "purchase": "token_bundle_purchase",
                    "reversal": "token_bundle_purchase",
                    "refund": "token_transaction",
                }.get(kind, ""),
                reference_id=reference or "",
                balance_after=balance,
                created_at=START + timedelta(minutes=number),
            )
        )
    Account.objects.filter(pk=account.pk).update(
        balance=balance, total_purchased=purchased, total_spent=spent, entry_count=len(steps)
    )
    return account, entries


def test_histories_become_lots_without_changing_a_balance(migrator):
    old = migrator.apply_initial_migration(BEFORE_LOTS)
    first, first_entries = write_history(
        old.apps,
        "a@example.com",
        [
            ("purchase", 100, "p1"),
            ("adjustment", 20, None),
            ("usage", -30, None),
            ("refund", 30, 2),
            ("purchase", 50, "p2"),
            ("usage", -25, None),
            ("reversal", -95, "p1"),
            ("adjustment", -10, None),
        ],
    )
    second, second_entries = write_history(
        old.apps,
        "b@example.com",
        [
            ("purchase", 10, "p3"),
            ("usage", -8, None),
            ("adjustment", 50, None),
            ("reversal", -10, "p3"),
        ],
    )

    new = migrator.apply_tested_migration(WITH_LOTS)

    Account = new.apps.get_model("tokens", "TokenAccount")
    Entry = new.apps.get_model("tokens", "TokenTransaction")
    Lot = new.apps.get_model("tokens", "TokenLot")
    Allocation = new.apps.get_model("tokens", "TokenAllocation")
    assert [Account.objects.get(pk=a.pk).balance for a in (first, second)] == [40, 42]
    assert Entry.objects.count() == 12
    lots = {
        (lot.account_id, lot.source_type, lot.source_id): (lot.category, lot.amount, lot.remaining)
        for lot in Lot.objects.all()
    }
    assert lots == {
        (first.pk, "token_bundle_purchase", "p1"): ("paid", 100, 0),
        (first.pk, "adjustment", ""): ("promotional", 20, 0),
        (first.pk, "token_bundle_purchase", "p2"): ("paid", 50, 40),
        (second.pk, "token_bundle_purchase", "p3"): ("paid", 10, 0),
        (second.pk, "adjustment", ""): ("promotional", 50, 42),
    }
    reversal = second_entries[3]
    assert sorted(
        Allocation.objects.filter(entry_id=reversal.pk).values_list("amount", flat=True)
    ) == [-8, -2]
    refund = first_entries[3]
    assert sorted(
        Allocation.objects.filter(entry_id=refund.pk).values_list("amount", flat=True)
    ) == [10, 20]
    migrator.reset()
    assert list(ledger_check()) == []
