"""What the API contract promises every endpoint: a body nested too deeply is a 400 in the
contract's shape, never a 500, and the schema documents 503 `busy` wherever a request may
wait on the database."""

import pytest
import yaml
from django.core.management import call_command

from common.tests.helpers import database_state
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db

# Valid JSON, 2.2 KB: far below the 1 MiB limit. Python's parser gives up at about 1000 levels
# of nesting with a RecursionError, which no parser of this API catches.
DEEPLY_NESTED = b"[" * 1100 + b"]" * 1100


def test_a_deeply_nested_json_body_is_a_400_not_a_500_for_an_anonymous_caller(api_client):
    """Contract, Conventions: errors are `{"error", "code", "fields"}`, "never a stack trace";
    a body that cannot be used is 400 `validation_error`. Any anonymous client gets a 500
    from login and register (and every other JSON endpoint) with 2 KB of brackets."""
    before = database_state()

    login = api_client.post(
        "/api/v1/auth/login", data=DEEPLY_NESTED, content_type="application/json"
    )
    register = api_client.post(
        "/api/v1/auth/register", data=DEEPLY_NESTED, content_type="application/json"
    )

    assert (login.status_code, login.json()["code"]) == (400, "validation_error")
    assert (register.status_code, register.json()["code"]) == (400, "validation_error")
    assert database_state() == before


def test_a_deeply_nested_json_body_is_a_400_not_a_500_on_a_keyed_write(user_client, user):
    fund(user, 10)
    before = database_state()

    response = user_client.post(
        "/api/v1/user/tokens/consume",
        data=DEEPLY_NESTED,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="nested-1",
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert database_state() == before


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/user/tokens/consume"),
        ("post", "/api/v1/user/checkout"),
        ("post", "/api/v1/user/usage"),
        ("post", "/api/v1/user/holds"),
        ("get", "/api/v1/user/tokens/balance"),
    ],
)
def test_the_schema_documents_503_busy_where_a_request_can_wait_on_the_database(
    schema, method, path
):
    """Contract 1.1: "a request that would wait on a lock longer than DB_LOCK_TIMEOUT ... or
    run a statement longer than DB_STATEMENT_TIMEOUT answers 503 `busy` with `Retry-After`";
    "the OpenAPI schema ... follow[s] it". No operation of /api/schema/ documents a 503."""
    responses = schema["paths"][path][method]["responses"]

    assert "503" in responses, sorted(responses)
