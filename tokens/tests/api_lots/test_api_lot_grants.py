"""The lots' API: the balance by category, lot lists, one entry's allocations, staff grants
and voids."""

from datetime import timedelta

import pytest

from common.models import IdempotencyRecord
from common.tests.helpers import database_state
from tokens.models import TokenLot
from tokens.tests.api_lots.helpers import NOW

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def grants_url(user) -> str:
    return f"/api/v1/admin/users/{user.pk}/tokens/grants"


def test_staff_grant_a_lot(staff_client, user, staff_user):
    response = staff_client.post(
        grants_url(user),
        {
            "amount": 50,
            "category": "promotional",
            "expires_at": "2026-07-01T00:00:00Z",
            "priority": 20,
            "reason": "launch gift",
        },
    )

    assert response.status_code == 201
    body = response.json()
    lot = TokenLot.objects.get(pk=body["id"])
    assert (body["amount"], body["remaining"], body["priority"], body["user_id"]) == (
        50,
        50,
        20,
        str(user.pk),
    )
    assert lot.credit.transaction_type == "grant"
    assert (lot.credit.description, lot.credit.created_by_id) == ("launch gift", staff_user.pk)


GRANT = {
    "amount": 50,
    "category": "promotional",
    "expires_at": "2026-06-02T00:00:00Z",
    "priority": 20,
    "reason": "launch gift",
}


@pytest.mark.parametrize(
    "changed",
    [
        {"category": "trial"},
        {"expires_at": "2026-06-09T00:00:00Z"},
        {"priority": 10},
        {"reason": "apology for the outage"},
    ],
)
def test_a_grant_key_reused_with_another_lot_after_a_day_is_422(staff_client, user, changed):
    """After the day the key's record is kept, the ledger's key answered: it compared the
    amount only, so a retry granting another category, expiry or priority was given the
    first lot as if it had been granted; and one with another reason answered 201 with the
    first grant, whose entry gives the first reason, as if the second had been recorded."""
    first = staff_client.post(grants_url(user), GRANT, format="json", HTTP_IDEMPOTENCY_KEY="g")
    IdempotencyRecord.objects.all().delete()  # the purge, a day later
    before = database_state()

    again = staff_client.post(
        grants_url(user), {**GRANT, **changed}, format="json", HTTP_IDEMPOTENCY_KEY="g"
    )

    assert first.status_code == 201
    assert (again.status_code, again.json().get("code")) == (422, "idempotency_key_reused")
    assert database_state() == before


def test_a_grant_retried_after_its_lot_expired_answers_the_first_lot(staff_client, user, clock):
    """The same grant again, after its record was purged and its expiry passed: the first lot,
    not a 400 for an expiry in the past."""
    first = staff_client.post(grants_url(user), GRANT, format="json", HTTP_IDEMPOTENCY_KEY="g")
    IdempotencyRecord.objects.all().delete()
    clock.move_to(NOW + timedelta(days=3))

    again = staff_client.post(grants_url(user), GRANT, format="json", HTTP_IDEMPOTENCY_KEY="g")

    assert (again.status_code, again.json().get("id")) == (201, first.json()["id"])
    assert TokenLot.objects.filter(account__user=user, category="promotional").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "5"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"category": "gold"}, "category"),
        ({"category": "paid"}, "category"),
        ({"expires_at": "2026-05-31T00:00:00Z"}, "expires_at"),
        ({"expires_at": "next tuesday"}, "expires_at"),
        # ISO 8601 forms beyond the documented ones (Python's fromisoformat reads them all).
        ({"expires_at": "2027-W01-1"}, "expires_at"),
        ({"expires_at": "20270101T100000"}, "expires_at"),
        ({"expires_at": "2027-01-01T10"}, "expires_at"),
        ({"expires_at": "2027-01-01T10:00:00+0100"}, "expires_at"),
        # Its last second's fraction cannot be rounded up to the whole second (it was a 500).
        ({"expires_at": "9999-12-31T23:59:59.5Z"}, "expires_at"),
        ({"priority": 101}, "priority"),
        ({"priority": -1}, "priority"),
        ({"reason": ""}, "reason"),
        ({"reason": None}, "reason"),
    ],
)
def test_a_bad_grant_is_400_naming_the_field_and_writes_nothing(staff_client, user, body, field):
    before = database_state()

    response = staff_client.post(grants_url(user), {"amount": 5, "reason": "gift", **body})

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_a_past_expiry_is_named_with_the_other_refused_fields(staff_client, user):
    """Staff correct every field at once: the expiry is not held back until the rest pass."""
    before = database_state()

    response = staff_client.post(
        grants_url(user),
        {"amount": 0, "reason": "gift", "expires_at": "2026-05-31T00:00:00Z", "priority": 101},
        format="json",
    )

    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "Invalid input in: amount, priority, expires_at.",
            "code": "validation_error",
            "fields": {
                "amount": ["Ensure this value is greater than or equal to 1."],
                "priority": ["Ensure this value is less than or equal to 100."],
                "expires_at": ["Must be in the future."],
            },
        },
    )
    assert database_state() == before


@pytest.mark.parametrize(
    ("sent", "expires_at"),
    [
        ("2027-01-01", "2027-01-01T00:00:00Z"),
        ("2027-01-01T10:00", "2027-01-01T10:00:00Z"),
        # A fraction of a second: the lot lasts to the whole second after (docs/api.md, Lots).
        ("2027-01-01 10:00:00.5+01:00", "2027-01-01T09:00:01Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
    ],
)
def test_a_grant_takes_the_documented_time_forms(staff_client, user, sent, expires_at):
    response = staff_client.post(
        grants_url(user), {"amount": 5, "reason": "gift", "expires_at": sent}, format="json"
    )

    assert (response.status_code, response.json()["expires_at"]) == (201, expires_at)


def test_a_grant_for_an_unknown_user_is_404(staff_client, user):
    response = staff_client.post(
        "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/tokens/grants",
        {"amount": 5, "reason": "gift"},
    )

    assert response.status_code == 404


def test_users_cannot_grant(user_client, user):
    before = database_state()

    response = user_client.post(grants_url(user), {"amount": 5, "reason": "gift"})

    assert response.status_code == 403
    assert database_state() == before
