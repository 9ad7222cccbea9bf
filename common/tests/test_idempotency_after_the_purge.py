from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from billing.models import Invoice
from catalog.tests.factories import TokenBundleFactory
from common import services
from common.models import IdempotencyRecord
from common.tests.idempotency_helpers import record
from conftest import client_for
from tokens.models import TokenTransaction
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def test_purge_removes_only_records_past_retention(user):
    record(user, key="old")
    record(user, key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    cutoff = timezone.now() - services.RETENTION

    assert services.idempotency_records_purge(older_than=cutoff, dry_run=True) == 1
    assert services.idempotency_records_purge(older_than=cutoff) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_a_key_whose_record_is_past_retention_is_answered_by_the_ledger_s_own_key(user):
    fund(user, 100)
    client = client_for(user)
    first = client.post("/api/v1/user/tokens/consume", {"amount": 5}, HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = client.post("/api/v1/user/tokens/consume", {"amount": 5}, HTTP_IDEMPOTENCY_KEY="old")

    assert again.status_code == 201
    assert again.json()["transaction"]["id"] == first.json()["transaction"]["id"]
    assert again.json()["balance"] == 95


@pytest.mark.sqlite
def test_a_checkout_key_whose_record_is_past_retention_answers_the_same_invoice(user):
    """The record is stale but not purged: the key's first run breaks on the invoice's own
    key, and the run with savepoints answers the first checkout and records it afresh."""
    body = {"token_bundle_ids": [str(TokenBundleFactory().pk)]}
    client = client_for(user)
    first = client.post("/api/v1/user/checkout", body, HTTP_IDEMPOTENCY_KEY="cart")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = client.post("/api/v1/user/checkout", body, HTTP_IDEMPOTENCY_KEY="cart")

    assert (again.status_code, again.json()) == (201, first.json())
    assert Invoice.objects.filter(user=user).count() == 1
    (stored,) = IdempotencyRecord.objects.filter(user=user)
    assert stored.created_at > timezone.now() - timedelta(minutes=1)


DAY_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


CONSUME = "/api/v1/user/tokens/consume"


@pytest.fixture
def clock():
    with time_machine.travel(DAY_START, tick=False) as traveller:
        yield traveller


def usages(user) -> list[int]:
    entries = TokenTransaction.objects.filter(account__user=user, transaction_type="usage")
    return list(entries.values_list("amount", flat=True))


@pytest.mark.sqlite
def test_the_same_request_23_hours_59_minutes_later_is_replayed(user, clock):
    fund(user, 100)
    first = client_for(user).post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="late")
    clock.shift(timedelta(hours=23, minutes=59))
    client = client_for(user)  # a fresh access token: the first one has long expired

    again = client.post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="late")
    other = client.post(CONSUME, {"amount": 6}, HTTP_IDEMPOTENCY_KEY="late")

    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert usages(user) == [-5]


@pytest.mark.sqlite
def test_after_the_purge_a_retried_consume_is_still_done_once_by_the_ledger_s_own_key(user, clock):
    fund(user, 100)
    first = client_for(user).post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="old")
    clock.shift(timedelta(hours=24, minutes=1))
    call_command("reconcile_purchases", stdout=StringIO())
    assert not IdempotencyRecord.objects.exists()

    again = client_for(user).post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="old")

    assert again.status_code == 201
    assert again.json()["transaction"] == first.json()["transaction"]
    assert again.json()["balance"] == 95
    assert usages(user) == [-5]


@pytest.mark.sqlite
def test_after_the_purge_a_retried_consume_is_found_even_when_the_balance_is_short_now(user, clock):
    """Found by the whole-flow state machine: the ledger refused for the balance before its
    key could say the work was done, and the retry got a 402 for work it had paid for."""
    fund(user, 5)
    first = client_for(user).post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="spent")
    clock.shift(timedelta(hours=24, minutes=1))
    call_command("reconcile_purchases", stdout=StringIO())

    again = client_for(user).post(CONSUME, {"amount": 5}, HTTP_IDEMPOTENCY_KEY="spent")
    other = client_for(user).post(CONSUME, {"amount": 6}, HTTP_IDEMPOTENCY_KEY="spent")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["transaction"] == first.json()["transaction"]
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert usages(user) == [-5]


@pytest.mark.sqlite
def test_after_the_purge_a_retried_checkout_finds_its_invoice(user, clock):
    bundle = TokenBundleFactory()
    body = {"token_bundle_ids": [str(bundle.pk)]}
    first = client_for(user).post("/api/v1/user/checkout", body, HTTP_IDEMPOTENCY_KEY="cart")
    clock.shift(timedelta(days=2))
    call_command("reconcile_purchases", stdout=StringIO())

    again = client_for(user).post("/api/v1/user/checkout", body, HTTP_IDEMPOTENCY_KEY="cart")

    assert again.status_code == 201
    assert again.json()["invoice"]["id"] == first.json()["invoice"]["id"]
    assert Invoice.objects.filter(user=user).count() == 1


CHECKOUT = "/api/v1/user/checkout"


HOLDS = "/api/v1/user/holds"


@pytest.mark.sqlite
def test_a_checkout_refused_for_an_unknown_bundle_keeps_nothing_and_the_key_takes_a_new_body(user):
    client = client_for(user)
    bundle = TokenBundleFactory()
    unknown = {"token_bundle_ids": ["0f0e0d0c-0b0a-4908-8706-050403020100"]}

    refused = client.post(CHECKOUT, unknown, HTTP_IDEMPOTENCY_KEY="cart")
    nothing_kept = (Invoice.objects.exists(), IdempotencyRecord.objects.exists())
    corrected = client.post(
        CHECKOUT, {"token_bundle_ids": [str(bundle.pk)]}, HTTP_IDEMPOTENCY_KEY="cart"
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "validation_error")
    assert "token_bundle_ids" in refused.json()["fields"]
    assert nothing_kept == (False, False)
    assert corrected.status_code == 201
    assert Invoice.objects.filter(user=user).count() == 1


@pytest.mark.sqlite
def test_a_grant_retried_once_its_expiry_has_passed_is_replayed(user, staff_user, clock):
    """The service now refuses the body (`expires_at` is past), but the key answered it."""
    grants = f"/api/v1/admin/users/{user.pk}/tokens/grants"
    body = {
        "amount": 5,
        "category": "promotional",
        "reason": "Sorry for the outage",
        "expires_at": (DAY_START + timedelta(hours=1)).isoformat(),
    }
    first = client_for(staff_user).post(grants, body, HTTP_IDEMPOTENCY_KEY="g")
    clock.shift(timedelta(hours=2))

    again = client_for(staff_user).post(grants, body, HTTP_IDEMPOTENCY_KEY="g")
    other = client_for(staff_user).post(grants, {**body, "amount": 6}, HTTP_IDEMPOTENCY_KEY="g")

    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    # Another body with the key of a grant made already: the contract's 422 (it was a 400
    # for the past expiry, which the key's own grant now takes).
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert TokenTransaction.objects.filter(transaction_type="grant").count() == 1


@pytest.mark.sqlite
def test_after_the_purge_a_retried_checkout_finds_its_invoice_though_its_bundle_is_retired(
    user, clock
):
    bundle = TokenBundleFactory()
    body = {"token_bundle_ids": [str(bundle.pk)]}
    first = client_for(user).post(CHECKOUT, body, HTTP_IDEMPOTENCY_KEY="cart")
    clock.shift(timedelta(days=2))
    call_command("reconcile_purchases", stdout=StringIO())
    type(bundle).objects.filter(pk=bundle.pk).update(is_active=False)

    again = client_for(user).post(CHECKOUT, body, HTTP_IDEMPOTENCY_KEY="cart")
    other = client_for(user).post(CHECKOUT, body, HTTP_IDEMPOTENCY_KEY="another")

    assert again.status_code == 201
    assert again.json()["invoice"]["id"] == first.json()["invoice"]["id"]
    assert (other.status_code, list(other.json()["fields"])) == (400, ["token_bundle_ids"])
    assert Invoice.objects.filter(user=user).count() == 1


@pytest.mark.sqlite
def test_after_the_purge_a_key_sent_with_another_description_or_reference_is_422(user, clock):
    """The ledger's own key compared the amount and the feature only: another description
    or reference got the first answer as if it were the same request."""
    fund(user, 100)
    body = {"amount": 5, "description": "Report", "reference": "job-1"}
    first = client_for(user).post(CONSUME, body, HTTP_IDEMPOTENCY_KEY="old")
    clock.shift(timedelta(hours=24, minutes=1))
    call_command("reconcile_purchases", stdout=StringIO())
    client = client_for(user)

    described = client.post(CONSUME, {**body, "description": "Other"}, HTTP_IDEMPOTENCY_KEY="old")
    referenced = client.post(CONSUME, {**body, "reference": "job-2"}, HTTP_IDEMPOTENCY_KEY="old")
    same = client.post(CONSUME, body, HTTP_IDEMPOTENCY_KEY="old")

    assert first.status_code == 201
    assert [described.status_code, referenced.status_code] == [422, 422]
    assert described.json()["code"] == "idempotency_key_reused"
    assert (same.status_code, same.json()["transaction"]) == (201, first.json()["transaction"])
    assert usages(user) == [-5]


@pytest.mark.sqlite
def test_after_the_purge_a_hold_key_sent_with_another_reference_is_422(user, clock):
    fund(user, 100)
    body = {"amount": 5, "reference": "job-1"}
    first = client_for(user).post(HOLDS, body, HTTP_IDEMPOTENCY_KEY="h")
    clock.shift(timedelta(hours=24, minutes=1))
    call_command("reconcile_purchases", stdout=StringIO())
    client = client_for(user)

    other = client.post(HOLDS, {**body, "reference": "job-2"}, HTTP_IDEMPOTENCY_KEY="h")
    same = client.post(HOLDS, body, HTTP_IDEMPOTENCY_KEY="h")

    assert first.status_code == 201
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert (same.status_code, same.json()["hold"]["id"]) == (201, first.json()["hold"]["id"])
