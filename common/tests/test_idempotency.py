from datetime import timedelta

import pytest
from django.utils import timezone

from common import services
from common.models import IdempotencyRecord
from conftest import client_for
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def record(user, key="k", fingerprint="f1", status=201, body=None):
    return services.idempotency_record(
        user_id=user.pk, key=key, fingerprint=fingerprint, status=status, body=body or {"ok": 1}
    )


def answer(user, key="k", fingerprint="f1"):
    return services.idempotency_answer(user_id=user.pk, key=key, fingerprint=fingerprint)


def test_a_key_without_a_record_has_no_answer(user):
    assert answer(user) is None


def test_a_recorded_answer_is_returned(user):
    assert record(user, status=402, body={"code": "insufficient_tokens"})

    assert answer(user) == services.StoredResponse(402, {"code": "insufficient_tokens"})


def test_a_second_record_for_the_key_is_refused_and_keeps_the_first(user):
    record(user, body={"first": True})

    assert not record(user, body={"second": True})
    assert answer(user).body == {"first": True}


def test_the_key_with_another_request_is_refused(user):
    record(user)

    with pytest.raises(services.IdempotencyKeyReused):
        answer(user, fingerprint="f2")


def test_a_record_older_than_a_day_counts_as_absent_and_is_replaced(user):
    record(user)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    assert answer(user, fingerprint="another body") is None
    assert record(user, fingerprint="another body", body={"fresh": 1})
    assert answer(user, fingerprint="another body").body == {"fresh": 1}
    assert IdempotencyRecord.objects.count() == 1


def test_keys_are_per_user(user, staff_user):
    record(user)

    assert record(staff_user)
    assert answer(staff_user) is not None


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
