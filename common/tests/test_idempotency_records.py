from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import services
from common.models import IdempotencyRecord
from common.tests.idempotency_helpers import record

pytestmark = pytest.mark.django_db


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


def test_the_purge_deletes_in_batches_of_a_bounded_size(user, monkeypatch):
    """Each statement deletes at most a batch, so none grows with the day's traffic."""
    monkeypatch.setattr(services, "PURGE_BATCH", 2)
    for key in ("a", "b", "c", "d", "e", "new"):
        record(user, key=key)
    IdempotencyRecord.objects.exclude(key="new").update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    with CaptureQueriesContext(connection) as queries:
        purged = services.idempotency_records_purge(older_than=timezone.now() - services.RETENTION)

    deletes = [query["sql"] for query in queries if query["sql"].startswith("DELETE")]
    assert purged == 5
    assert len(deletes) == 3
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
