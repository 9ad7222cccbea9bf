"""An access token of a user deleted since it was issued (with a shell or psql: the admin
deletes no user). Authentication trusts the token's claims and reads no user, so the token
reaches the views; a write that would record something of theirs is refused as a token that
names no user is, 401 `not_authenticated`, and changes nothing. Committed transactions: the
database checks a row's user as the transaction commits."""

from __future__ import annotations

import pytest

from accounts.models import User
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


@pytest.fixture
def gone():
    """A signed-in client of a user made without anything of theirs (as `createsuperuser`
    makes one), deleted once signed in."""
    user = User.objects.create_user(email="gone@example.com", password="a-long-password-1")
    client = client_for(user)
    client.raise_request_exception = False
    User.objects.filter(pk=user.pk).delete()
    return client


def bundle_bought():
    return {"token_bundle_ids": [str(TokenBundleFactory().pk)]}


def plan_bought():
    return {"plan_id": str(PlanFactory().pk)}


def alerts_set():
    return {"low_balance_threshold": 5}


@pytest.mark.parametrize(
    ("method", "path", "body_of"),
    [
        ("put", "/api/v1/user/alerts", alerts_set),
        ("post", "/api/v1/user/checkout", bundle_bought),
        ("post", "/api/v1/user/checkout", plan_bought),
    ],
)
def test_a_write_with_a_deleted_users_token_is_401_and_changes_nothing(gone, method, path, body_of):
    """These answered 500: the write failed on the foreign key to the user as it committed."""
    body = body_of()
    before = database_state()

    response = getattr(gone, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    assert response.status_code == 401
    assert response.json() == {
        "error": "This account no longer exists; nothing was done.",
        "code": "not_authenticated",
    }
    assert database_state() == before
