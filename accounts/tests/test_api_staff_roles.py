"""Staff roles and API keys: a key records usage and refunds it for any user, so minting one
needs what the admin's Add API key needs (accounts.add_apikey). A support agent held to view
permissions in the admin and in the tokens API made a key through the staff API and moved
tokens with it. Listing keys needs viewing them; revoking stays open to every staff
member."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from accounts.tests.factories import UserFactory, staff_in_role
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

VIEWER = ("accounts.view_apikey", "tokens.view_tokenaccount")


def test_staff_whose_role_is_view_only_cannot_make_a_key():
    agent = client_for(staff_in_role(*VIEWER))
    before = database_state()

    response = agent.post("/api/v1/admin/api-keys", {"name": "mine"})

    assert (response.status_code, response.json().get("code")) == (403, "permission_denied")
    assert "accounts.add_apikey" in response.json()["error"]
    assert database_state() == before


def test_staff_whose_role_is_view_only_still_list_and_revoke_keys():
    key = api_key_create(name="leaked", actor_id=UserFactory(is_staff=True).pk).key
    agent = client_for(staff_in_role(*VIEWER))

    listed = agent.get("/api/v1/admin/api-keys")
    revoked = agent.delete(f"/api/v1/admin/api-keys/{key.pk}")

    assert (listed.status_code, listed.json()["total"], revoked.status_code) == (200, 1, 204)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


@pytest.mark.parametrize(
    "staff",
    [
        lambda: staff_in_role("accounts.view_apikey", "accounts.add_apikey"),
        lambda: UserFactory(is_staff=True),  # no role at all: the contract's staff
        lambda: UserFactory(is_staff=True, is_superuser=True),
    ],
    ids=["role with add_apikey", "staff without a role", "superuser"],
)
def test_staff_who_may_add_keys_make_one(staff):
    response = client_for(staff()).post("/api/v1/admin/api-keys", {"name": "backend"})

    assert response.status_code == 201
    assert response.json()["secret"].startswith("tbk_")
