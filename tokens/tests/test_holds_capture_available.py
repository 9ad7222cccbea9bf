"""What a capture says is available afterwards is what the balance says: a step (`final:
false`) leaves the rest of its hold reserved."""

import pytest

from tokens import selectors, services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.mark.parametrize(("final", "available"), [(False, 0), (True, 7)])
def test_a_capture_answers_what_is_available_as_the_balance_does(user, final, available):
    fund(user, 10)
    made = services.hold_create(user_id=user.pk, amount=10, ttl_seconds=600)

    done = services.hold_capture(user_id=user.pk, hold_id=made.hold.pk, amount=3, final=final)

    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.available) == (7, available)
    assert (done.used.balance, done.used.available) == (shown.balance, shown.available)


def test_a_step_capture_under_a_short_hold_answers_what_is_available_as_the_balance_does(user):
    """Lots the hold counted on are gone (voided): after the step, the rest of the hold, still
    reserved, is more than the balance, so less than nothing is available."""
    paid = services.tokens_credit(
        user_id=user.pk,
        amount=6,
        transaction_type="purchase",
        reference_type="test",
        reference_id="short-step",
    )
    fund(user, 4)
    made = services.hold_create(user_id=user.pk, amount=10, ttl_seconds=600)
    services.lot_void(lot_id=paid.lot.pk, reason="chargeback", actor_id=None)

    done = services.hold_capture(user_id=user.pk, hold_id=made.hold.pk, amount=3, final=False)

    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.available) == (1, -6)
    assert (done.used.balance, done.used.available) == (shown.balance, shown.available)
