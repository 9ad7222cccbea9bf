import pytest

from common.tests.helpers import database_state
from tokens.models import TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

CONSUME = "/api/v1/user/tokens/consume"


def consume(client, body, key="key-1"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(CONSUME, body, **headers)


def test_consume_debits_and_answers_the_entry_and_balance(user_client, user):
    fund(user, 100)

    response = consume(user_client, {"amount": 30, "description": "render", "reference": "job-9"})

    assert response.status_code == 201
    body = response.json()
    entry = TokenTransaction.objects.get(pk=body["transaction"]["id"])
    assert body["balance"] == 70
    assert body["transaction"] == {
        "id": str(entry.pk),
        "amount": -30,
        "transaction_type": "usage",
        "reference_id": "job-9",
        "description": "render",
        "balance_after": 70,
        "created_at": entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert TokenAccount.objects.get(user=user).total_spent == 30


def test_a_short_balance_is_402_and_changes_nothing_but_the_stored_answer(user_client, user):
    fund(user, 10)
    before = database_state()

    response = consume(user_client, {"amount": 11})

    assert response.status_code == 402
    assert response.json() == {
        "error": "The balance is 10 tokens; this needs 11.",
        "code": "insufficient_tokens",
    }
    after = database_state()
    assert after.pop("common.IdempotencyRecord") != before.pop("common.IdempotencyRecord")
    assert after == before


def test_the_same_key_and_body_answer_the_first_response_and_debit_once(user_client, user):
    fund(user, 100)
    first = consume(user_client, {"amount": 30})

    again = consume(user_client, {"amount": 30})

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert TokenAccount.objects.get(user=user).balance == 70


def test_a_replayed_refusal_stays_a_refusal(user_client, user):
    fund(user, 10)
    consume(user_client, {"amount": 11})
    fund(user, 100)

    again = consume(user_client, {"amount": 11})

    assert again.status_code == 402
    assert TokenAccount.objects.get(user=user).balance == 110


def test_the_same_key_with_another_body_is_422_and_changes_nothing(user_client, user):
    fund(user, 100)
    consume(user_client, {"amount": 30})
    before = database_state()

    response = consume(user_client, {"amount": 31})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert database_state() == before


def test_keys_are_per_user(user_client, user, staff_client, staff_user):
    fund(user, 100)
    fund(staff_user, 100)

    mine = consume(user_client, {"amount": 30}, key="same")
    theirs = consume(staff_client, {"amount": 30}, key="same")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["transaction"]["id"] != theirs.json()["transaction"]["id"]


BAD_BODIES = [
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": 1.5}, "amount"),
    ({"amount": 5.0}, "amount"),
    ({"amount": "5"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": None}, "amount"),
    ({"amount": 1_000_001}, "amount"),
    ({}, "amount"),
    ({"amount": 1, "description": "x" * 501}, "description"),
    ({"amount": 1, "reference": "x" * 256}, "reference"),
    ({"amount": 1, "description": ["list"]}, "description"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_bodies_are_400_and_write_nothing(user_client, user, body, field):
    fund(user, 10)
    before = database_state()

    response = consume(user_client, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]
    assert database_state() == before


@pytest.mark.parametrize("key", [None, "", "k" * 256])
def test_a_missing_or_too_long_key_is_400_and_writes_nothing(user_client, user, key):
    fund(user, 10)
    before = database_state()

    response = consume(user_client, {"amount": 1}, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert database_state() == before


def test_a_key_of_255_characters_is_fine(user_client, user):
    fund(user, 10)

    assert consume(user_client, {"amount": 1}, key="k" * 255).status_code == 201


def test_a_400_is_not_stored_so_the_key_can_be_used_with_a_corrected_body(user_client, user):
    fund(user, 10)
    consume(user_client, {"amount": "1"})

    response = consume(user_client, {"amount": 1})

    assert response.status_code == 201


def test_consume_needs_authentication(api_client):
    before = database_state()

    response = consume(api_client, {"amount": 1})

    assert response.status_code == 401
    assert database_state() == before
