import pytest

from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


BALANCE = "/api/v1/user/tokens/balance"


def test_balance_of_a_user_who_never_bought_is_zero(user_client):
    response = user_client.get(BALANCE)

    assert response.status_code == 200
    assert response.json() == {
        "balance": 0,
        "available": 0,
        "held": 0,
        "total_purchased": 0,
        "total_spent": 0,
        "by_category": {"trial": 0, "promotional": 0, "included": 0, "paid": 0},
        "expiring": [],
        "updated_at": None,
    }


def test_balance_shows_the_account(user_client, user):
    fund(user, 100)
    services.tokens_debit(user_id=user.pk, amount=40)

    body = user_client.get(BALANCE).json()

    assert (body["balance"], body["total_purchased"], body["total_spent"]) == (60, 0, 40)
    assert body["updated_at"].endswith("Z")


def test_balance_needs_authentication(api_client):
    assert api_client.get(BALANCE).status_code == 401
