"""`manage.py ledger_check`: the ledger's audit as an operator runs it, and the drift it finds."""

import importlib
import json
import logging
import tracemalloc
import uuid
from contextlib import contextmanager, suppress
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone
from pythonjsonlogger.json import JsonFormatter

from accounts.tests.factories import UserFactory
from jobs.commands import command_run
from tokens import services
from tokens.management.commands import ledger_check as command_module
from tokens.models import LedgerCheckRun, TokenAccount, TokenAllocation, TokenLot, TokenTransaction
from tokens.selectors import LedgerMismatch, ledger_check
from tokens.tests.factories import grant

APPEND_ONLY = importlib.import_module("tokens.migrations.0002_ledger_append_only_triggers")

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def credit(user, amount: int) -> None:
    services.tokens_credit(
        user_id=user.pk, amount=amount, transaction_type="adjustment", description="test"
    )


def test_a_sound_ledger_exits_0_and_says_so(user):
    credit(user, 10)
    out = StringIO()

    call_command("ledger_check", stdout=out)

    assert "Every account agrees with its ledger entries." in out.getvalue()


def test_a_broken_ledger_exits_1_with_a_listing(user):
    credit(user, 1000)
    TokenAccount.objects.filter(user=user).update(balance=7)
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("ledger_check", stdout=out)

    account = TokenAccount.objects.get(user=user)
    assert failed.value.returncode == 1
    assert f"Ledger: account {account.pk} (user {user.pk}): " in out.getvalue()
    assert "balance 7 != sum of entries 1000" in out.getvalue()


def test_the_worker_logs_the_failing_accounts_by_id_never_by_email(user, caplog):
    """The worker logs the listing (jobs.commands.command_run): it named each account by its
    user's email, personal data an operator's log pipeline should not carry."""
    credit(user, 1000)
    TokenAccount.objects.filter(user=user).update(balance=7)
    account = TokenAccount.objects.get(user=user)
    caplog.set_level(logging.INFO)

    command_run("ledger_check")

    logged = "\n".join(handler_format(record) for record in caplog.records)
    assert f"Ledger: account {account.pk} (user {user.pk}): balance 7" in logged
    assert user.email not in logged


def handler_format(record: logging.LogRecord) -> str:
    """The record as the JSON handler writes it, every field given with it included."""
    return JsonFormatter().format(record)


def test_json_lists_each_failing_account(user):
    credit(user, 5)
    account = TokenAccount.objects.get(user=user)
    TokenAccount.objects.filter(pk=account.pk).update(total_spent=3)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("ledger_check", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {
        "failures": [
            {
                "account_id": str(account.pk),
                "user_id": str(user.pk),
                "problems": ["total_spent 3 != entries 0"],
            }
        ]
    }


# Drift in the chain: written behind the ledger's back, as a bug or a hand edit would.


@contextmanager
def append_only_rules_off():
    """The database's append-only rules off for the block, inside the test's transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            yield
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
            return
        for trigger in ("tokens_ledger_no_update", "tokens_ledger_no_delete"):
            cursor.execute(f"DROP TRIGGER {trigger}")
        yield
        for statement in APPEND_ONLY.SQLITE_INSTALL:
            cursor.execute(statement)


def rewrite(user, number: int, **values) -> None:
    with append_only_rules_off():
        TokenTransaction._base_manager.filter(account__user=user, number=number).update(**values)


def history(user) -> None:
    """Entries 1: +10 (10), 2: -3 (7), 3: +5 (12)."""
    credit(user, 10)
    services.tokens_debit(user_id=user.pk, amount=3)
    credit(user, 5)


def problems_of(user, batch_size: int = 1000) -> list[str]:
    return {m.user_id: m.problems for m in ledger_check(batch_size=batch_size)}.get(user.pk, [])


def test_a_balance_after_that_does_not_follow_is_found_though_every_total_agrees(user):
    history(user)
    rewrite(user, 2, balance_after=8)
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("ledger_check", stdout=out)

    assert failed.value.returncode == 1
    assert problems_of(user) == [
        "entry 2: balance_after 8 != the previous 10 -3 = 7 (and 1 more like it)"
    ]
    assert f"(user {user.pk}): entry 2" in out.getvalue()


def test_a_missing_entry_number_is_found_where_it_is_missing(user):
    """Entry 4 appended by hand after entry 2, with its lot, and the account made to agree."""
    credit(user, 10)
    services.tokens_debit(user_id=user.pk, amount=3)
    account = TokenAccount.objects.get(user=user)
    entry = TokenTransaction.objects.create(
        account=account, number=4, amount=5, transaction_type="adjustment", balance_after=12
    )
    lot = TokenLot.objects.create(
        account=account, category="promotional", amount=5, remaining=5, credit=entry
    )
    TokenAllocation.objects.create(entry=entry, lot=lot, amount=5)
    TokenAccount.objects.filter(pk=account.pk).update(balance=12, entry_count=4)

    assert problems_of(user) == [
        "entry_count 4, 3 entries, highest number 4",
        "entry 4 follows entry 2: a number is missing",
    ]


def test_the_first_entry_must_be_number_1_and_start_from_0(user):
    history(user)
    rewrite(user, 1, balance_after=11)

    assert problems_of(user) == [
        "entry 1: balance_after 11 != the previous 0 +10 = 10 (and 1 more like it)"
    ]


def test_a_badly_broken_account_is_summed_up_and_crowds_no_other_out(user):
    """Every other balance_after of one account off by one (29 breaks): one line says how
    many; another account's single break is still found in the same batch."""
    badly = UserFactory()
    for _ in range(30):
        credit(badly, 1)
    with append_only_rules_off():
        TokenTransaction._base_manager.filter(
            account__user=badly, number__in=range(2, 31, 2)
        ).update(balance_after=F("balance_after") + 1)
    history(user)
    rewrite(user, 3, balance_after=13)

    found = {m.user_id: m.problems for m in ledger_check()}

    assert found == {
        badly.pk: [
            "balance 30 != newest balance_after 31",
            "entry 2: balance_after 3 != the previous 1 +1 = 2 (and 28 more like it)",
        ],
        user.pk: [
            "balance 12 != newest balance_after 13",
            "entry 3: balance_after 13 != the previous 7 +5 = 12",
        ],
    }


def test_held_that_is_not_what_active_holds_reserve_is_found(user):
    credit(user, 50)
    services.hold_create(user_id=user.pk, amount=20)
    TokenAccount.objects.filter(user=user).update(held=5)

    (found,) = ledger_check()

    assert found.problems == ["held 5 != what active holds reserve 20"]


def test_a_bound_later_than_what_it_bounds_is_found(user):
    expiry = grant(user, 10, expires_at=timezone.now() + timedelta(days=1)).expires_at
    hold = services.hold_create(user_id=user.pk, amount=5, ttl_seconds=60).hold
    later = expiry + timedelta(days=1)
    TokenAccount.objects.filter(user=user).update(next_expiry_at=None, next_hold_expiry_at=later)

    (found,) = ledger_check()

    assert found.problems == [
        f"next_expiry_at none is after a lot with tokens expires ({expiry.isoformat()})",
        f"next_hold_expiry_at {later.isoformat()} is after an active hold expires "
        f"({hold.expires_at.isoformat()})",
    ]


class Discard:
    """A standard output that keeps nothing, so what is measured is the command's own."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def failing_accounts(count: int):
    """`count` failing accounts, as the audit yields them, without making them in the database."""
    for n in range(count):
        problems = [f"balance {n} != sum of entries 0", 'lot "été" paid after its expiry'][
            : 1 + n % 2
        ]
        yield LedgerMismatch(uuid.UUID(int=n), uuid.UUID(int=1000 + n), problems)


@pytest.mark.parametrize("options", [[], ["--json"]], ids=["text", "json"])
def test_memory_stays_flat_however_many_accounts_fail(monkeypatch, options):
    """Every failing account was kept in a list, then copied for the JSON and dumped whole:
    memory grew with their number just when the ledger was most broken. Only the first are
    kept now (for the staff overview); the count has no cap."""
    monkeypatch.setattr(command_module, "ledger_check", lambda: failing_accounts(20_000))
    tracemalloc.start()
    try:
        with pytest.raises(CommandError):
            call_command("ledger_check", *options, stdout=Discard())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert LedgerCheckRun.objects.get().failing_accounts == 20_000
    assert peak < 2_000_000


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_listing_is_what_it_was(monkeypatch, count):
    """Written as the accounts are found, the output is still one JSON document, indented, or
    a line per account."""
    monkeypatch.setattr(command_module, "ledger_check", lambda: failing_accounts(count))
    failures = list(failing_accounts(count))
    listing = [
        {"account_id": str(f.account_id), "user_id": str(f.user_id), "problems": f.problems}
        for f in failures
    ]
    lines = [
        f"Ledger: account {f.account_id} (user {f.user_id}): {'; '.join(f.problems)}\n"
        for f in failures
    ]
    as_json, as_text = StringIO(), StringIO()

    for options, out in ((["--json"], as_json), ([], as_text)):
        with suppress(CommandError):
            call_command("ledger_check", *options, stdout=out)

    assert as_json.getvalue() == json.dumps({"failures": listing}, indent=2) + "\n"
    assert as_text.getvalue() == (
        "".join(lines) or "Every account agrees with its ledger entries.\n"
    )
