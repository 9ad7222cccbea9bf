"""Service API keys as the contract has them: a creation retried with its Idempotency-Key
makes one key."""

import pytest

from accounts.models import ApiKey
from common.models import IdempotencyRecord

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/admin/api-keys"


def test_a_retried_key_creation_with_the_same_idempotency_key_creates_one_key(staff_client):
    """Contract 1.1: "Same conventions: ... `Idempotency-Key` on every POST that creates
    something below"; idempotency: "Same user + same key + same body within 24 h: the first
    response again, nothing done twice." The header is ignored: a retry after a lost answer
    makes a second live key (and a second secret nobody was shown twice)."""
    first = staff_client.post(KEYS, {"name": "render farm"}, HTTP_IDEMPOTENCY_KEY="key-1")
    again = staff_client.post(KEYS, {"name": "render farm"}, HTTP_IDEMPOTENCY_KEY="key-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == {**first.json(), "secret": None}
    assert first.json()["secret"].startswith("tbk_")
    assert again["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.count() == 1
    assert IdempotencyRecord.objects.get().response_body["secret"] is None
