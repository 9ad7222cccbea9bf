"""Holds: reserve, capture in steps, release, expire exactly at `expires_at`."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing import services as billing_services
from billing.services.reconcile import ReconcileReport, subscriptions_expire
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from conftest import client_for
from tokens import selectors, services
from tokens.models import Hold, UnlimitedCoverage, UsageRecord
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def hold(client, body, key="h1"):
    return client.post(HOLDS, body, HTTP_IDEMPOTENCY_KEY=key)


def available(user) -> int:
    return selectors.token_balance(user_id=user.pk).available


def test_a_hold_counts_against_what_is_available_at_once(user_client, user):
    fund(user, 50)

    response = hold(user_client, {"amount": 30, "ttl_seconds": 600, "feature": "llm"})

    assert response.status_code == 201
    assert response.json() == {
        "hold": {
            "id": response.json()["hold"]["id"],
            "amount": 30,
            "captured": 0,
            "status": "active",
            "expires_at": "2026-07-01T08:10:00Z",
            "source": "tokens",
            "feature": "llm",
            "created_at": "2026-07-01T08:00:00Z",
        },
        "balance": {"balance": 50, "available": 20},
    }
    assert (available(user), selectors.token_balance(user_id=user.pk).held) == (20, 30)


def test_a_hold_that_does_not_fit_is_402_and_holds_nothing(user_client, user):
    fund(user, 50)
    hold(user_client, {"amount": 40}, key="a")
    before = database_state()

    response = hold(user_client, {"amount": 11}, key="b")

    assert response.status_code == 402
    assert (response.json()["available"], response.json()["needed"]) == (10, 11)
    after, before = database_state(), before
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_usage_cannot_spend_what_a_hold_reserves(user, user_client):
    fund(user, 50)
    hold(user_client, {"amount": 45})

    with pytest.raises(services.InsufficientTokens) as short:
        services.tokens_debit(user_id=user.pk, amount=6)

    assert (short.value.balance, short.value.available) == (50, 5)


def test_a_final_capture_charges_less_and_releases_the_rest(user_client, user):
    lot = grant(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 12}, HTTP_IDEMPOTENCY_KEY="c1"
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["hold"]["status"], body["hold"]["captured"]) == ("captured", 12)
    assert (body["usage"]["charged"], body["usage"]["source"]) == (12, "tokens")
    assert body["usage"]["allocations"] == [
        {"lot_id": str(lot.pk), "category": "promotional", "amount": 12}
    ]
    assert (selectors.token_balance(user_id=user.pk).balance, available(user)) == (38, 38)


def test_captures_with_final_false_keep_the_hold_active(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]
    url = f"{HOLDS}/{made['id']}/capture"

    first = user_client.post(url, {"amount": 10, "final": False}, HTTP_IDEMPOTENCY_KEY="1")
    second = user_client.post(url, {"amount": 20, "final": False}, HTTP_IDEMPOTENCY_KEY="2")

    assert first.json()["hold"]["status"] == "active"
    assert (second.json()["hold"]["status"], second.json()["hold"]["captured"]) == (
        "captured",
        30,
    )
    assert available(user) == 20


def test_capturing_more_than_the_hold_has_left_is_409_and_changes_nothing(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 10}).json()["hold"]
    before = database_state()

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 11}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (response.status_code, response.json()["code"]) == (409, "exceeds_hold")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_a_released_hold_frees_its_tokens_and_resolves_once(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]

    released = user_client.post(f"{HOLDS}/{made['id']}/release")
    again = user_client.post(f"{HOLDS}/{made['id']}/release")
    capture_after = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="late"
    )

    assert released.json()["hold"]["status"] == "released"
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert (capture_after.status_code, capture_after.json()["code"]) == (409, "invalid_state")
    assert available(user) == 50


def test_a_hold_expires_exactly_at_its_time_without_a_sweep(user_client, user, clock):
    fund(user, 50)
    made = hold(user_client, {"amount": 30, "ttl_seconds": 60}).json()["hold"]

    clock.move_to(NOW + timedelta(seconds=59, microseconds=999_999))
    just_before = available(user)
    clock.move_to(NOW + timedelta(seconds=60))
    at_expiry = available(user)
    late = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="late"
    )
    shown = user_client.get(f"{HOLDS}/{made['id']}").json()

    assert (just_before, at_expiry) == (20, 50)
    assert (late.status_code, late.json()["code"]) == (409, "hold_expired")
    assert shown["status"] == "expired"
    assert services.tokens_debit(user_id=user.pk, amount=50).balance_after == 0


def test_the_sweep_records_expired_holds_once(user_client, user, clock):
    fund(user, 50)
    hold(user_client, {"amount": 30, "ttl_seconds": 60})
    clock.move_to(NOW + timedelta(minutes=2))

    first, second = services.holds_expire(), services.holds_expire()

    assert (first, second) == (1, 0)
    assert Hold.objects.get().status == "expired"
    assert selectors.token_balance(user_id=user.pk).held == 0


def test_under_an_unlimited_plan_a_hold_reserves_nothing_and_its_capture_is_free(user_client, user):
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
    fund(user, 5)

    made = hold(user_client, {"amount": 100}).json()
    captured = user_client.post(
        f"{HOLDS}/{made['hold']['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    ).json()

    assert (made["hold"]["source"], made["balance"]) == (
        "subscription",
        {"balance": 5, "available": 5},
    )
    assert (captured["usage"]["source"], captured["usage"]["charged"]) == ("subscription", 0)
    assert available(user) == 5


def test_a_plans_refund_releases_the_holds_it_covered(user_client, user, clock):
    """The money went back: a hold made under the plan no longer captures work for free."""
    order = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(order.invoice)
    fund(user, 5)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    clock.shift(timedelta(minutes=1))

    billing_services.invoice_refund(invoice_id=order.invoice.pk)
    before = database_state()
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (answer.status_code, answer.json()["code"]) == (409, "invalid_state")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    released = Hold.objects.get(pk=made["id"])
    assert (released.status, released.resolved_at) == ("released", NOW + timedelta(minutes=1))
    assert available(user) == 5


def test_a_plans_refund_keeps_the_holds_another_running_plan_covers(user_client, user):
    refunded = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(refunded.invoice)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice, reference="pay-2")

    billing_services.invoice_refund(invoice_id=refunded.invoice.pk)
    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert captured.status_code == 200
    assert (captured.json()["usage"]["source"], captured.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )


def test_a_plans_refund_keeps_a_hold_made_under_an_earlier_plan_whose_period_ended(
    user_client, user, clock
):
    """The earlier period was paid for: its hold keeps its coverage after that period ends,
    whatever becomes of a later plan."""
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
    period_end = UnlimitedCoverage.objects.get().ends_at
    clock.move_to(period_end - timedelta(minutes=1))
    made = hold(user_client, {"amount": 100, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(period_end + timedelta(minutes=1))
    later = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(later.invoice, reference="pay-2")
    under_the_later_plan = hold(user_client, {"amount": 100}, key="h2").json()["hold"]

    billing_services.invoice_refund(invoice_id=later.invoice.pk)
    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert captured.status_code == 200
    assert (captured.json()["usage"]["source"], captured.json()["usage"]["charged"]) == (
        "subscription",
        0,
    )
    assert Hold.objects.get(pk=under_the_later_plan["id"]).status == "released"


def test_a_capture_after_the_lots_it_counted_on_expired_takes_what_there_is(
    user_client, user, clock
):
    """Decided: a hold reserves an amount, not lots. If lots expire under it, the capture
    charges what is left (never below zero) and says so in `charged`."""
    grant(user, 20, expires_at=NOW + timedelta(minutes=5))
    fund(user, 5)
    made = hold(user_client, {"amount": 25, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(NOW + timedelta(minutes=5))

    body = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 25}, HTTP_IDEMPOTENCY_KEY="c"
    ).json()

    assert (body["usage"]["amount"], body["usage"]["charged"]) == (25, 5)
    assert body["hold"]["status"] == "captured"
    assert selectors.token_balance(user_id=user.pk).balance == 0


def test_a_capture_with_nothing_at_all_left_is_402_and_the_hold_stays_active(
    user_client, user, clock
):
    """The ledger records no entry of 0 tokens: the capture changes nothing (docs/api.md),
    and the client releases the hold or lets it expire."""
    grant(user, 10, expires_at=NOW + timedelta(minutes=5))
    made = hold(user_client, {"amount": 10, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(NOW + timedelta(minutes=10))
    before = database_state()

    response = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 5, "final": True}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert response.status_code == 402
    assert response.json() == {
        "error": "The balance is 0 tokens; this needs 5.",
        "code": "insufficient_tokens",
        "balance": 0,
        "available": 0,
        "needed": 5,
    }
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    assert Hold.objects.get(pk=made["id"]).status == "active"


def test_a_capture_retried_with_its_key_charges_once(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 30}).json()["hold"]
    url = f"{HOLDS}/{made['id']}/capture"

    first = user_client.post(url, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="same")
    again = user_client.post(url, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="same")

    assert again.json() == first.json()
    assert UsageRecord.objects.count() == 1


def test_a_capture_repeated_with_its_key_after_the_record_is_gone_answers_the_first(user):
    """The API's idempotency record may be purged; the capture's own usage key still finds
    the first answer: after the hold resolved, and for a step of a capture in steps."""
    fund(user, 50)
    made = services.hold_create(user_id=user.pk, amount=30, idempotency_key="h").hold
    step = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=5, final=False, idempotency_key="s1"
    )
    final = services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=10, idempotency_key="f")

    step_again = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=5, final=False, idempotency_key="s1"
    )
    final_again = services.hold_capture(
        user_id=user.pk, hold_id=made.pk, amount=10, idempotency_key="f"
    )

    assert (step_again.used.usage.pk, final_again.used.usage.pk) == (
        step.used.usage.pk,
        final.used.usage.pk,
    )
    assert final_again.hold.status == "captured"
    assert UsageRecord.objects.filter(hold_id=made.pk).count() == 2
    assert selectors.token_balance(user_id=user.pk).balance == 35
    with pytest.raises(services.HoldNotActive):
        services.hold_capture(user_id=user.pk, hold_id=made.pk, amount=1, idempotency_key="new")


def test_a_capture_key_sent_again_with_another_amount_after_its_record_is_gone_is_422(user):
    """Within the API's 24 h its record refuses another body; after, the capture's own usage
    key does (it answered the first capture, as if the new amount had been charged)."""
    fund(user, 50)
    client = client_for(user)
    made = hold(client, {"amount": 30}).json()["hold"]
    capture = f"{HOLDS}/{made['id']}/capture"
    client.post(capture, {"amount": 5, "final": False}, HTTP_IDEMPOTENCY_KEY="s1")
    client.post(capture, {"amount": 10}, HTTP_IDEMPOTENCY_KEY="f")
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = database_state()

    answers = [
        client.post(capture, body, HTTP_IDEMPOTENCY_KEY=key)
        for key, body in (("s1", {"amount": 6, "final": False}), ("f", {"amount": 20}))
    ]

    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [
        (422, "idempotency_key_reused")
    ] * 2
    assert database_state() == before


def test_a_hold_repeated_with_its_key_after_the_record_is_gone_answers_the_first_when_short(
    user_client, user, clock
):
    """After the API's 24 h the hold's own key still answers the first hold (as it is now),
    also when the tokens it reserved have been spent since (before: 402)."""
    fund(user, 10)
    first = hold(user_client, {"amount": 10, "ttl_seconds": 60}, key="k").json()["hold"]
    clock.shift(timedelta(hours=25))
    user_client.post("/api/v1/user/usage", {"amount": 10}, HTTP_IDEMPOTENCY_KEY="spend")

    again = hold(user_client, {"amount": 10, "ttl_seconds": 60}, key="k")
    other = hold(user_client, {"amount": 9, "ttl_seconds": 60}, key="k")

    assert again.status_code == 201
    assert again.json() == {
        "hold": {**first, "status": "expired"},
        "balance": {"balance": 0, "available": 0},
    }
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert Hold.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 1_000_001}, "amount"),
        ({"amount": 5, "ttl_seconds": 0}, "ttl_seconds"),
        ({"amount": 5, "ttl_seconds": 86_401}, "ttl_seconds"),
        ({"amount": 5, "feature": "f" * 65}, "feature"),
    ],
)
def test_a_bad_hold_is_400_naming_the_field_and_changes_nothing(user_client, user, body, field):
    fund(user, 50)
    before = database_state()

    response = hold(user_client, body)

    assert (response.status_code, field in response.json()["fields"]) == (400, True)
    assert database_state() == before


def test_another_users_hold_is_404_everywhere(user_client, user):
    fund(user, 50)
    made = hold(user_client, {"amount": 5}).json()["hold"]
    stranger = client_for(UserFactory())
    before = database_state()

    responses = [
        stranger.get(f"{HOLDS}/{made['id']}"),
        stranger.post(f"{HOLDS}/{made['id']}/release"),
        stranger.post(f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="x"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_a_service_holds_and_captures_for_a_user(service, user):
    fund(user, 50)
    url = f"/api/v1/users/{user.pk}/holds"

    made = service.post(url, {"amount": 20}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]
    captured = service.post(f"{url}/{made['id']}/capture", {"amount": 20}, HTTP_IDEMPOTENCY_KEY="c")
    listed = service.get(url, {"status": "captured"}).json()

    assert captured.status_code == 200
    assert [item["id"] for item in listed["items"]] == [made["id"]]
    assert selectors.token_balance(user_id=user.pk).balance == 30


@pytest.mark.parametrize("caller", ["service", "staff_client"])
def test_a_capture_with_the_longest_key_works_and_answers_again_after_its_record(
    request, user, caller, clock
):
    """255 characters after a service's or staff member's scope were longer than the usage's
    key column: PostgreSQL refused the insert and the capture answered 500."""
    client, key = request.getfixturevalue(caller), "k" * 255
    fund(user, 50)
    url = f"/api/v1/users/{user.pk}/holds"
    made = client.post(url, {"amount": 20}, HTTP_IDEMPOTENCY_KEY="h").json()["hold"]

    captured = client.post(f"{url}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY=key)
    clock.shift(timedelta(hours=25))
    again = client.post(f"{url}/{made['id']}/capture", {"amount": 5}, HTTP_IDEMPOTENCY_KEY=key)

    assert captured.status_code == 200
    assert again.json()["usage"] == captured.json()["usage"]
    assert UsageRecord.objects.get().charged == 5


@pytest.mark.parametrize("maker", ["service", "staff_client"])
def test_a_user_cannot_settle_a_hold_a_service_or_staff_made_for_them(
    request, user, user_client, maker
):
    """A seller's backend reserves 50 tokens for a job and captures what the job cost at its
    end. The user's own capture took the hold for 1 token (final), or their release freed
    it, and the seller's capture was then 409 `invalid_state`: the work went unpaid."""
    fund(user, 100)
    made_by = request.getfixturevalue(maker)
    url = f"/api/v1/users/{user.pk}/holds"
    made = made_by.post(url, {"amount": 50}, HTTP_IDEMPOTENCY_KEY="job").json()["hold"]
    before = database_state()

    captured = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="mine"
    )
    released = user_client.post(f"{HOLDS}/{made['id']}/release")
    seen = user_client.get(f"{HOLDS}/{made['id']}")

    assert [captured.status_code, released.status_code] == [403, 403]
    assert captured.json()["code"] == released.json()["code"] == "permission_denied"
    assert (seen.status_code, seen.json()["status"]) == (200, "active")
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before
    settled = made_by.post(f"{url}/{made['id']}/capture", {"amount": 50}, HTTP_IDEMPOTENCY_KEY="c")
    assert settled.status_code == 200
    assert selectors.token_balance(user_id=user.pk).balance == 50


def test_a_user_settles_the_holds_they_made(user, user_client):
    fund(user, 100)
    first = hold(user_client, {"amount": 10}, key="a").json()["hold"]
    second = hold(user_client, {"amount": 10}, key="b").json()["hold"]

    captured = user_client.post(
        f"{HOLDS}/{first['id']}/capture", {"amount": 4}, HTTP_IDEMPOTENCY_KEY="c"
    )
    released = user_client.post(f"{HOLDS}/{second['id']}/release")

    assert [captured.status_code, released.status_code] == [200, 200]
    assert selectors.token_balance(user_id=user.pk).balance == 96


def test_a_plans_refund_after_its_expiry_was_recorded_releases_the_holds_it_covered(
    user_client, user, clock
):
    """The reconcile sweep marking the subscription expired changes nothing about its refund:
    the money of that period went back, so a hold made under it no longer captures for free,
    as when the refund comes before the sweep."""
    order = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(order.invoice)
    fund(user, 5)
    period_end = UnlimitedCoverage.objects.get().ends_at
    clock.move_to(period_end - timedelta(minutes=1))
    made = hold(user_client, {"amount": 100, "ttl_seconds": 3600}).json()["hold"]
    clock.move_to(period_end + timedelta(minutes=1))
    subscriptions_expire(ReconcileReport(dry_run=False))

    billing_services.invoice_refund(invoice_id=order.invoice.pk)
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert (answer.status_code, answer.json().get("code")) == (409, "invalid_state")
    assert Hold.objects.get(pk=made["id"]).status == "released"
    assert UnlimitedCoverage.objects.get().revoked_at == period_end + timedelta(minutes=1)


def test_a_hold_kept_by_a_later_plan_is_released_when_that_plan_is_refunded_too(
    user_client, user, clock
):
    """A plan's refund keeps a hold made under it while another unlimited plan covers the
    user; once that plan's money goes back as well, no paid period covers the hold."""
    first = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(first.invoice)
    fund(user, 5)
    made = hold(user_client, {"amount": 100}).json()["hold"]
    clock.shift(timedelta(minutes=1))
    second = checkout(user, plan=PlanFactory(usage_mode="unlimited"))
    capture(second.invoice, reference="pay-2")
    billing_services.invoice_refund(invoice_id=first.invoice.pk)
    kept = Hold.objects.get(pk=made["id"]).status
    clock.shift(timedelta(minutes=1))

    billing_services.invoice_refund(invoice_id=second.invoice.pk)
    answer = user_client.post(
        f"{HOLDS}/{made['id']}/capture", {"amount": 60}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert kept == "active"
    assert (answer.status_code, answer.json().get("code")) == (409, "invalid_state")
    released = Hold.objects.get(pk=made["id"])
    assert (released.status, released.resolved_at) == ("released", NOW + timedelta(minutes=2))
    assert available(user) == 5
