"""Usage authorization: an unlimited plan, then lots (trial first), or 402; refunds."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.helpers import database_state
from conftest import client_for
from tokens.models import TokenTransaction, UsageRecord
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
USAGE = "/api/v1/user/usage"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def use(client, body, key="k1"):
    return client.post(USAGE, body, HTTP_IDEMPOTENCY_KEY=key)


def subscribe_unlimited(user):
    capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)


def test_trial_tokens_pay_first_and_the_usage_says_so(user_client, user):
    trial = grant(user, 3, category="trial", expires_at=NOW + timedelta(days=30))
    fund(user, 100)

    response = use(user_client, {"amount": 2, "feature": "design"})

    assert response.status_code == 201
    body = response.json()
    assert body["usage"] | {"id": None, "created_at": None} == {
        "id": None,
        "user_id": str(user.pk),
        "amount": 2,
        "charged": 2,
        "source": "trial",
        "feature": "design",
        "allocations": [{"lot_id": str(trial.pk), "category": "trial", "amount": 2}],
        "refunded_at": None,
        "created_at": None,
    }
    assert body["balance"] == {"balance": 101, "available": 101}


def test_usage_beyond_the_trial_is_paid_in_tokens(user_client, user):
    grant(user, 3, category="trial", expires_at=NOW + timedelta(days=30))
    fund(user, 100)

    body = use(user_client, {"amount": 5}).json()

    assert (body["usage"]["source"], body["usage"]["charged"]) == ("tokens", 5)
    assert sorted(a["amount"] for a in body["usage"]["allocations"]) == [2, 3]


def test_an_unlimited_plan_covers_usage_with_no_ledger_entry(user_client, user):
    subscribe_unlimited(user)
    fund(user, 10)
    entries = TokenTransaction.objects.count()

    body = use(user_client, {"amount": 7, "feature": "design"}).json()

    assert (body["usage"]["source"], body["usage"]["charged"]) == ("subscription", 0)
    assert body["usage"]["allocations"] == []
    assert body["balance"] == {"balance": 10, "available": 10}
    assert TokenTransaction.objects.count() == entries
    assert UsageRecord.objects.get().source == "subscription"


def test_usage_switches_to_tokens_the_instant_the_plan_ends(user, clock):
    subscribe_unlimited(user)
    fund(user, 10)
    ends = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    clock.move_to(ends - timedelta(microseconds=1))
    before = use(client_for(user), {"amount": 1}, key="a").json()["usage"]["source"]
    clock.move_to(ends)
    after = use(client_for(user), {"amount": 1}, key="b").json()["usage"]["source"]

    assert (before, after) == ("subscription", "tokens")


def test_a_short_balance_is_402_with_the_numbers_and_changes_nothing_else(user_client, user):
    fund(user, 4)
    before = database_state()

    response = use(user_client, {"amount": 5})

    assert response.status_code == 402
    assert response.json() == {
        "error": "The balance is 4 tokens; this needs 5.",
        "code": "insufficient_tokens",
        "balance": 4,
        "available": 4,
        "needed": 5,
    }
    after = database_state()
    after.pop("common.IdempotencyRecord")
    before.pop("common.IdempotencyRecord")
    assert after == before


def test_the_same_key_and_body_answer_the_first_usage_once(user_client, user):
    fund(user, 10)

    first = use(user_client, {"amount": 3})
    again = use(user_client, {"amount": 3})

    assert again.json() == first.json()
    assert UsageRecord.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 1_000_001}, "amount"),
        ({"amount": "5"}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"feature": "x" * 65}, "feature"),
        ({"feature": ""}, "feature"),
    ],
)
def test_bad_usage_is_400_naming_the_field_and_changes_nothing(user_client, user, body, field):
    fund(user, 10)
    before = database_state()

    response = use(user_client, body)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_usage_needs_an_idempotency_key(user_client, user):
    fund(user, 10)
    before = database_state()

    response = user_client.post(USAGE, {"amount": 1})

    assert (response.status_code, list(response.json()["fields"])) == (400, ["Idempotency-Key"])
    assert database_state() == before


def test_usage_is_listed_and_read_only_by_its_user(user_client, user):
    fund(user, 10)
    mine = use(user_client, {"amount": 1, "feature": "a"}, key="1").json()["usage"]
    use(user_client, {"amount": 2, "feature": "b"}, key="2")
    stranger = client_for(UserFactory())

    listed = user_client.get(USAGE, {"feature": "a"}).json()

    assert [item["id"] for item in listed["items"]] == [mine["id"]]
    assert user_client.get(f"{USAGE}/{mine['id']}").json() == mine
    assert stranger.get(f"{USAGE}/{mine['id']}").status_code == 404
    assert stranger.get(USAGE).json()["total"] == 0


@pytest.mark.parametrize(
    "times",
    [
        {"created_after": "2026-05-02", "created_before": "2026-05-01"},
        {"created_after": "2026-05-01T09:00:00Z", "created_before": "2026-05-01T09:00:00Z"},
        {"created_after": "2026-05-01T10:00:00+01:00", "created_before": "2026-05-01T09:00"},
    ],
)
def test_a_time_range_that_ends_before_it_starts_is_400(user_client, user, times):
    """As the ledger's history has it: a reversed or empty range is a mistake, not a day
    without usage. It answered an empty page (200, total 0)."""
    fund(user, 10)
    use(user_client, {"amount": 1})

    response = user_client.get(USAGE, times)

    assert (response.status_code, response.json().get("fields")) == (
        400,
        {"created_before": ["Must be later than created_after."]},
    )


def test_a_service_charges_any_user_and_refunds_once(service, user):
    lot = grant(user, 10)
    url = f"/api/v1/users/{user.pk}/usage"

    made = service.post(url, {"amount": 4, "feature": "llm"}, HTTP_IDEMPOTENCY_KEY="job-1")
    usage_id = made.json()["usage"]["id"]
    refunded = service.post(f"{url}/{usage_id}/refund")
    again = service.post(f"{url}/{usage_id}/refund")

    assert made.status_code == 201
    assert made.json()["usage"]["allocations"] == [
        {"lot_id": str(lot.pk), "category": "promotional", "amount": 4}
    ]
    assert (refunded.status_code, refunded.json()["refunded_at"]) == (200, "2026-05-01T09:00:00Z")
    assert (again.status_code, again.json()["code"]) == (409, "already_refunded")
    assert client_for(user).get("/api/v1/user/tokens/balance").json()["balance"] == 10


def test_a_covered_usage_is_refunded_once_with_nothing_to_give_back(service, user):
    subscribe_unlimited(user)
    url = f"/api/v1/users/{user.pk}/usage"
    usage_id = service.post(url, {"amount": 4}, HTTP_IDEMPOTENCY_KEY="j").json()["usage"]["id"]

    first = service.post(f"{url}/{usage_id}/refund")
    second = service.post(f"{url}/{usage_id}/refund")

    assert [first.status_code, second.status_code] == [200, 409]


def test_users_cannot_refund_their_own_usage(user_client, user):
    fund(user, 10)
    usage_id = use(user_client, {"amount": 4}).json()["usage"]["id"]
    before = database_state()

    response = user_client.post(f"/api/v1/users/{user.pk}/usage/{usage_id}/refund")

    assert response.status_code == 403
    assert database_state() == before


def without_key_use(state: dict) -> dict:
    """The service key's `last_used_at` records that it was used; nothing else may change."""
    return {model: rows for model, rows in state.items() if model != "accounts.ApiKey"}


@pytest.mark.parametrize("user_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_an_unknown_or_malformed_user_is_404(service, user_id):
    before = database_state()

    response = service.post(
        f"/api/v1/users/{user_id}/usage", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert without_key_use(database_state()) == without_key_use(before)


def test_another_users_usage_cannot_be_refunded_through_this_user(service, user):
    other = UserFactory()
    fund(other, 5)
    usage_id = service.post(
        f"/api/v1/users/{other.pk}/usage", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="k"
    ).json()["usage"]["id"]
    before = database_state()

    response = service.post(f"/api/v1/users/{user.pk}/usage/{usage_id}/refund")

    assert response.status_code == 404
    assert without_key_use(database_state()) == without_key_use(before)


def test_consume_is_usage_without_a_feature(user_client, user):
    fund(user, 10)

    response = user_client.post(
        "/api/v1/user/tokens/consume", {"amount": 3}, HTTP_IDEMPOTENCY_KEY="c"
    )

    usage = UsageRecord.objects.get()
    assert (usage.amount, usage.feature, usage.source) == (3, "", "tokens")
    assert response.json()["transaction"]["id"] == str(usage.entry_id)
    assert response.json()["balance"] == 7


def test_consume_under_an_unlimited_plan_charges_nothing(user_client, user):
    subscribe_unlimited(user)
    fund(user, 10)

    response = user_client.post(
        "/api/v1/user/tokens/consume", {"amount": 3}, HTTP_IDEMPOTENCY_KEY="c"
    )

    assert response.json() == {"transaction": None, "balance": 10}
