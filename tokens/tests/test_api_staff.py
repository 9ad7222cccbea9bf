from uuid import uuid4

import pytest

from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from tokens import services
from tokens.models import TokenAccount
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def adjust_url(user) -> str:
    return f"/api/v1/admin/users/{user.pk}/tokens/adjust"


def refund_url(entry_id) -> str:
    return f"/api/v1/admin/token-transactions/{entry_id}/refund"


def test_staff_adjust_credits_and_records_who(staff_client, staff_user, user):
    response = staff_client.post(adjust_url(user), {"amount": 250, "reason": "Goodwill"})

    assert response.status_code == 201
    body = response.json()
    assert (body["amount"], body["transaction_type"], body["description"]) == (
        250,
        "adjustment",
        "Goodwill",
    )
    assert (body["user_id"], body["created_by"], body["balance_after"]) == (
        str(user.pk),
        str(staff_user.pk),
        250,
    )


def test_staff_adjust_below_zero_is_409_and_changes_nothing(staff_client, user):
    fund(user, 5)
    before = database_state()

    response = staff_client.post(adjust_url(user), {"amount": -6, "reason": "Correction"})

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_tokens"
    assert database_state() == before


def test_staff_adjust_with_a_key_happens_once(staff_client, user):
    headers = {"HTTP_IDEMPOTENCY_KEY": "ticket-42"}

    first = staff_client.post(adjust_url(user), {"amount": 10, "reason": "x"}, **headers)
    again = staff_client.post(adjust_url(user), {"amount": 10, "reason": "x"}, **headers)

    assert first.json() == again.json()
    assert TokenAccount.objects.get(user=user).balance == 10


@pytest.mark.parametrize(
    "changed", [{"amount": 11}, {"amount": -10}, {"reason": "refund for ticket 43"}]
)
def test_staff_adjust_key_reused_with_another_body_after_a_day_is_422(staff_client, user, changed):
    """Once the key's record is purged (a day later), the ledger's own key still answers it:
    another reason was a 201 replaying the first adjustment, which records the first
    reason, so the second reason was recorded nowhere."""
    headers = {"HTTP_IDEMPOTENCY_KEY": "ticket-42"}
    body = {"amount": 10, "reason": "refund for ticket 42"}
    staff_client.post(adjust_url(user), body, format="json", **headers)
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = database_state()

    again = staff_client.post(adjust_url(user), {**body, **changed}, format="json", **headers)

    assert (again.status_code, again.json().get("code")) == (422, "idempotency_key_reused")
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 10}, "reason"),
        ({"amount": 10, "reason": "   "}, "reason"),
        ({"amount": 10, "reason": "x" * 501}, "reason"),
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": "10", "reason": "x"}, "amount"),
        ({"amount": 1.5, "reason": "x"}, "amount"),
        ({"amount": None, "reason": "x"}, "amount"),
        ({"amount": 10**10, "reason": "x"}, "amount"),
    ],
)
def test_staff_adjust_refuses_bad_input(staff_client, user, body, field):
    before = database_state()

    response = staff_client.post(adjust_url(user), body)

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_staff_adjust_of_an_unknown_user_is_404(staff_client):
    response = staff_client.post(
        f"/api/v1/admin/users/{uuid4()}/tokens/adjust", {"amount": 1, "reason": "x"}
    )

    assert response.status_code == 404


def test_usage_refund_gives_back_once_then_409(staff_client, user):
    fund(user, 20)
    usage = services.tokens_debit(user_id=user.pk, amount=8)

    first = staff_client.post(refund_url(usage.pk))
    before = database_state()
    again = staff_client.post(refund_url(usage.pk))

    assert first.status_code == 201
    assert (first.json()["amount"], first.json()["balance_after"]) == (8, 20)
    assert again.status_code == 409
    assert again.json()["code"] == "already_refunded"
    assert database_state() == before


def test_refund_of_a_non_usage_entry_is_409(staff_client, user):
    """Its sentence names the entry's type as the API writes it; it said "this entry is a
    Adjustment" (and "a Expiration", "a Usage refund")."""
    credit = fund(user, 20)

    response = staff_client.post(refund_url(credit.pk))

    assert response.status_code == 409
    assert response.json() == {
        "error": "Only usage can be refunded; this entry is of type adjustment.",
        "code": "invalid_state",
    }


@pytest.mark.parametrize("entry_id", [uuid4(), "not-a-uuid"])
def test_refund_of_an_unknown_entry_is_404(staff_client, entry_id):
    assert staff_client.post(refund_url(entry_id)).status_code == 404


def test_staff_routes_are_401_anonymous_and_403_for_users(api_client, user_client, user):
    usage_owner_funds = fund(user, 5)
    before = database_state()

    for client, status in ((api_client, 401), (user_client, 403)):
        assert client.post(adjust_url(user), {"amount": 1, "reason": "x"}).status_code == status
        assert client.post(refund_url(usage_owner_funds.pk)).status_code == status
    assert database_state() == before
