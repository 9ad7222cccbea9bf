"""Only a capture takes from what other holds reserve when the account is short (tokens
0017): a plain usage, a new hold, a staff debit or adjustment still needs what is available,
on both databases, and each is refused with the same figures (nothing changed). So is a
partial debit that names no hold: only a capture takes less than asked (tokens 0018)."""

from datetime import UTC, datetime

import pytest
import time_machine

from common.tests.helpers import database_state
from tokens import services
from tokens.ledger import Entry, Work, ledger_debit
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def usage(user, amount):
    return services.usage_record(user_id=user.pk, work=Work(amount=amount))


def new_hold(user, amount):
    return services.hold_create(user_id=user.pk, amount=amount, idempotency_key="new")


def staff_debit(user, amount):
    return services.tokens_debit(user_id=user.pk, amount=amount, description="staff")


def adjustment(user, amount):
    return services.tokens_adjust(user_id=user.pk, amount=-amount, reason="fix", actor_id=None)


def partial_debit(user, amount):
    entry = Entry(amount=-amount, transaction_type="usage")
    return ledger_debit(user_id=user.pk, entry=entry, partial=True)


CALLERS = {
    "usage": usage,
    "hold": new_hold,
    "debit": staff_debit,
    "adjustment": adjustment,
    "partial": partial_debit,
}


def account(user, *, kept: int, voided: int, holds: list[int]) -> None:
    grant(user, kept, priority=10)
    lot = grant(user, voided, priority=20) if voided else None
    for index, amount in enumerate(holds):
        services.hold_create(user_id=user.pk, amount=amount, idempotency_key=f"h{index}")
    if lot:
        services.lot_void(lot_id=lot.pk, reason="test", actor_id=None)


@pytest.mark.parametrize("caller", list(CALLERS), ids=list(CALLERS))
@pytest.mark.parametrize(
    ("kept", "voided", "holds", "needed", "refused"),
    [
        (40, 60, [50, 50], 1, (40, -60)),
        (100, 0, [30], 71, (100, 70)),
        (70, 30, [50], 21, (70, 20)),
    ],
    ids=["short", "not-short", "refund-leaves-enough"],
)
def test_only_a_capture_takes_what_other_holds_reserve(
    user, caller, kept, voided, holds, needed, refused
):
    with time_machine.travel(NOW, tick=False):
        account(user, kept=kept, voided=voided, holds=holds)
        before = database_state()

        with pytest.raises(services.InsufficientTokens) as short:
            CALLERS[caller](user, needed)

        assert (short.value.balance, short.value.available, short.value.needed) == (
            *refused,
            needed,
        )
        assert database_state() == before
        if refused[1] > 0:
            CALLERS[caller](user, refused[1])  # exactly what is available is taken in full
