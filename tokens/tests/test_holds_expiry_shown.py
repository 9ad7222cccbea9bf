"""A hold expires exactly at the `expires_at` its answer shows (docs/api.md: "A hold expires
exactly at `expires_at`, never earlier"), also when it was made part-way through a second:
the API writes times to the second, so a hold made at 08:00:00.5 with `ttl_seconds: 60`
showed 08:01:00Z and stayed active, reserving its tokens and capturable, until 08:01:00.5."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tokens import selectors
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

PART_WAY = datetime(2026, 7, 1, 8, 0, 0, 500_000, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


def test_a_hold_made_part_way_through_a_second_expires_at_the_time_it_shows(user_client, user):
    fund(user, 50)
    with time_machine.travel(PART_WAY, tick=False) as clock:
        made = user_client.post(
            HOLDS, {"amount": 30, "ttl_seconds": 60}, HTTP_IDEMPOTENCY_KEY="h"
        ).json()["hold"]
        shown = datetime.fromisoformat(made["expires_at"])

        clock.move_to(shown - timedelta(microseconds=1))
        just_before = selectors.token_balance(user_id=user.pk).available
        clock.move_to(shown)
        at_expiry = selectors.token_balance(user_id=user.pk).available
        late = user_client.post(
            f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="late"
        )
        status = user_client.get(f"{HOLDS}/{made['id']}").json()["status"]

    assert (just_before, at_expiry) == (20, 50)
    assert (late.status_code, late.json().get("code")) == (409, "hold_expired")
    assert status == "expired"
    assert shown >= PART_WAY + timedelta(seconds=60)  # never before its ttl
