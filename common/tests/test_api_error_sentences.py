"""A refusal whose code wrote its own sentence answers with it: the status's general sentence
("You do not have permission to do this.") tells a seller's developer nothing they can act on."""

from __future__ import annotations

import pytest

from accounts.services import api_key_revoke
from common.tests.helpers import database_state
from conftest import client_for, service_client
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def test_an_api_key_on_a_users_own_endpoint_is_told_where_keys_may_go(user, api_key):
    fund(user, 10)
    before = database_state()

    response = service_client(api_key.secret).post(
        "/api/v1/user/tokens/consume", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 403
    assert response.json() == {
        "error": "An API key may call only the usage and hold endpoints under "
        "/api/v1/users/{user_id}/.",
        "code": "permission_denied",
    }
    assert database_state() == before


def test_a_revoked_api_key_is_told_so(user, api_key):
    fund(user, 10)
    api_key_revoke(key_id=api_key.key.pk)
    before = database_state()

    response = service_client(api_key.secret).post(
        f"/api/v1/users/{user.pk}/usage", {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "The API key is unknown or has been revoked.",
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert database_state() == before


def test_history_asked_for_as_csv_without_the_parameter_is_told_how_to_get_it(user):
    """Its 406 said "This API only answers with JSON.", of the one endpoint that answers CSV."""
    response = client_for(user).get("/api/v1/user/tokens/transactions", HTTP_ACCEPT="text/csv")

    assert response.status_code == 406
    assert response.json() == {
        "error": "A page of history is JSON; ask for CSV with ?format=csv.",
        "code": "not_acceptable",
    }


def test_drfs_own_details_keep_the_contracts_sentences(user):
    """A detail DRF fills in from its template is replaced by the table's sentence, as before."""
    response = client_for(user).post(
        "/api/v1/user/tokens/consume",
        data="amount=1",
        content_type="text/plain",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )

    assert response.status_code == 415
    assert response.json() == {
        "error": "Send the request body as application/json.",
        "code": "unsupported_media_type",
    }
