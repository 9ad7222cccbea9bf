"""`tokens.depleted` when lots expiring take what is available to 0 (docs/api.md: "when
`available` goes from above 0 to 0"). The sweep that books them tells, as it tells
`tokens.low_balance`; before, it judged every expiry as available (0, 0) and a seller
listening for `tokens.depleted` never heard that the account had run dry."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from events.models import Event
from tokens import services
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SWEEP = NOW + timedelta(hours=2)


def depleted(user) -> list[tuple[int, int]]:
    events = Event.objects.filter(type="tokens.depleted", data__user_id=str(user.pk))
    return [(event.data["balance"], event.data["available"]) for event in events]


def expiring_and_lasting(user, expiring: int, lasting: int) -> None:
    with time_machine.travel(NOW, tick=False):
        grant(user, expiring, expires_at=NOW + timedelta(hours=1))
        if lasting:
            fund(user, lasting)


def test_lots_expiring_to_nothing_are_told_as_depleted_once_by_the_sweep(user):
    expiring_and_lasting(user, 20, 0)

    with time_machine.travel(SWEEP, tick=False):
        services.lots_expire()
        services.lots_expire()

    assert depleted(user) == [(0, 0)]


def test_an_expiry_that_leaves_tokens_available_is_no_depletion(user):
    expiring_and_lasting(user, 20, 5)

    with time_machine.travel(SWEEP, tick=False):
        services.lots_expire()

    assert depleted(user) == []


def test_an_expiry_under_a_hold_that_leaves_nothing_available_is_depletion(user):
    """40 tokens, 30 held: 10 available until the lot expired, -30 from then on."""
    expiring_and_lasting(user, 40, 0)
    with time_machine.travel(NOW, tick=False):
        services.hold_create(user_id=user.pk, amount=30, ttl_seconds=86_400)

    with time_machine.travel(SWEEP, tick=False):
        services.lots_expire()

    assert depleted(user) == [(0, -30)]


def test_a_hold_after_the_expiry_that_took_the_rest_is_not_told_again(user):
    """Expiry took 50 to 10 (no depletion); a hold of the 10 left told it; the sweep must
    not tell it a second time."""
    expiring_and_lasting(user, 40, 10)

    with time_machine.travel(SWEEP, tick=False):
        services.hold_create(user_id=user.pk, amount=10, ttl_seconds=60)
        services.lots_expire()

    assert depleted(user) == [(10, 0)]


def test_tokens_credited_after_the_expiry_and_before_the_sweep_are_no_depletion(user):
    expiring_and_lasting(user, 20, 0)

    with time_machine.travel(SWEEP, tick=False):
        fund(user, 3)
        services.lots_expire()

    assert depleted(user) == []


def test_a_hold_ending_at_the_lots_expiry_that_took_everything_is_not_told_again(user):
    """Both end at the same whole second (every expiry is rounded up to one): the hold of all
    40 told the depletion when it was made; just before that second nothing was available, so
    the expiry took nothing that was available and the sweep must not tell it again."""
    expiring_and_lasting(user, 40, 0)
    with time_machine.travel(NOW, tick=False):
        services.hold_create(user_id=user.pk, amount=40, ttl_seconds=3600)

    with time_machine.travel(SWEEP, tick=False):
        services.lots_expire()

    assert depleted(user) == [(40, 0)]


def test_a_hold_made_at_the_lots_expiry_second_is_not_told_again(user):
    """50 expiring at T and 10 lasting; a hold of 10 made at T itself saw the 50 gone and told
    the depletion. Just before T it did not exist yet: the expiry took 50 of 60 available,
    none of it the last, and the sweep must not tell a second depletion."""
    expiring_and_lasting(user, 50, 10)

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        services.hold_create(user_id=user.pk, amount=10, ttl_seconds=86_400)
    with time_machine.travel(SWEEP, tick=False):
        services.lots_expire()

    assert depleted(user) == [(10, 0)]
