from datetime import timedelta

import pytest
from django.utils import timezone

from common import services
from common.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def claim(user, key="k", fingerprint="f1"):
    return services.idempotency_claim(user_id=user.pk, key=key, fingerprint=fingerprint)


def test_a_first_claim_records_the_key_in_flight(user):
    record = claim(user)

    assert record.status == IdempotencyRecord.Status.IN_FLIGHT


def test_a_completed_key_returns_the_stored_answer(user):
    services.idempotency_complete(record=claim(user), status=201, body={"ok": 1})

    stored = claim(user)

    assert stored == services.StoredResponse(status=201, body={"ok": 1})


def test_another_request_with_the_key_is_refused(user):
    services.idempotency_complete(record=claim(user), status=201, body={})

    with pytest.raises(services.IdempotencyKeyReused):
        claim(user, fingerprint="f2")


def test_a_key_in_flight_is_a_conflict(user):
    claim(user)

    with pytest.raises(services.IdempotencyInProgress):
        claim(user)


def test_a_claim_whose_request_died_is_taken_over_after_a_minute(user):
    record = claim(user)
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        updated_at=timezone.now() - timedelta(seconds=61)
    )

    again = claim(user)

    assert again.pk == record.pk
    assert again.status == IdempotencyRecord.Status.IN_FLIGHT


def test_a_record_older_than_a_day_counts_as_absent(user):
    record = claim(user)
    services.idempotency_complete(record=record, status=201, body={})
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    fresh = claim(user, fingerprint="another body")

    assert fresh.status == IdempotencyRecord.Status.IN_FLIGHT
    assert fresh.request_fingerprint == "another body"


def test_keys_are_per_user(user, staff_user):
    claim(user)

    assert claim(staff_user).user_id == staff_user.pk


def test_a_released_claim_can_be_made_again(user):
    services.idempotency_release(record=claim(user))

    assert claim(user).status == IdempotencyRecord.Status.IN_FLIGHT


def test_purge_removes_only_records_past_retention(user):
    old = claim(user, key="old")
    claim(user, key="new")
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    cutoff = timezone.now() - services.RETENTION

    assert services.idempotency_records_purge(older_than=cutoff, dry_run=True) == 1
    assert services.idempotency_records_purge(older_than=cutoff) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
