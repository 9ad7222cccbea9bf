import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE)` \| `(/api/v1/[^`]*)` \|", re.MULTILINE)


def test_the_schema_generates_and_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert errors, f"{method} {path} documents no error"
            for response in errors.values():
                reference = response["content"]["application/json"]["schema"]["$ref"]
                component = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
                assert reference.endswith("Error"), (method, path, reference)
                assert {"error", "code"} <= set(component["properties"]), reference


def test_component_names_are_unique_and_meaningful(schema):
    names = set(schema["components"]["schemas"])

    assert not {name for name in names if name.lower() in {"input", "output"}}
    assert {"StaffTokenBundle", "TokenBundleOffer", "TokenBundleWriteRequest"} <= names


def test_nothing_is_described_by_the_machinery_behind_it(schema):
    """drf-spectacular describes an operation, and a request or answer body, with the first
    docstring among its view's or serializer's classes: a shared base class's docstring (the
    fast path's, the lean request bodies') is for developers, not for the API's readers."""
    operations = [op for ops in schema["paths"].values() for op in ops.values()]
    components = list(schema["components"]["schemas"].values())
    described = [item.get("description", "") for item in operations + components]
    machinery = ("common_case", "fastpath", "fast path", "deep cop", "shallow cop")

    assert not [text for text in described if any(word in text for word in machinery)]


@pytest.mark.django_db
def test_swagger_ui_is_served_from_this_server(client):
    page = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", page) == []


@pytest.mark.django_db
def test_schema_endpoint_answers(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/v1/token-bundles" in response.content


def test_docs_route_table_matches_the_schema(schema):
    documented = set(ROUTE_ROW.findall((ROOT / "docs" / "api.md").read_text()))
    generated = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }

    assert documented == generated


def test_every_operation_documents_the_edge_answers_any_request_can_get(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"406", "414", "431"} <= documented, f"{method} {path}"
            if method in {"post", "put", "patch"}:
                assert "413" in documented, f"{method} {path}"


def test_a_body_parsed_by_drf_documents_415_and_a_webhook_verifying_raw_bytes_does_not(schema):
    checkout = schema["paths"]["/api/v1/user/checkout"]["post"]["responses"]
    webhook = schema["paths"]["/api/v1/webhooks/payment"]["post"]["responses"]

    assert "415" in checkout
    assert "415" not in webhook


def test_the_current_subscription_documents_its_404(schema):
    assert "404" in schema["paths"]["/api/v1/user/subscription"]["get"]["responses"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "method", "path"),
    [
        ("service", "get", "/api/v1/user/tokens/balance"),
        ("service", "post", "/api/v1/user/tokens/consume"),
        ("service", "post", "/api/v1/user/checkout"),
        ("service", "get", "/api/v1/auth/me"),
        ("user_client", "get", "/api/v1/users/{user_id}/holds"),
        ("user_client", "post", "/api/v1/users/{user_id}/usage"),
        ("user_client", "post", "/api/v1/users/{user_id}/usage/{id}/refund"),
    ],
)
def test_an_operation_that_answers_403_documents_it(schema, request, user, caller, method, path):
    """A service key on an endpoint that takes none, and a user's JWT on the endpoints that
    take only a service key or staff, are 403: a client generated from the schema must know."""
    client = request.getfixturevalue(caller)
    url = path.format(user_id=user.pk, id="00000000-0000-0000-0000-000000000000")

    response = getattr(client, method)(url, {}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert "403" in schema["paths"][path][method]["responses"]


@pytest.mark.parametrize("provider", ["payment", "stripe"])
def test_both_payment_webhooks_document_the_500_their_provider_retries(schema, provider):
    """A delivery whose processing fails is a 500, recorded as failed, so that the provider
    retries it (billing/tests: test_a_failing_receiver_is_500_recorded_and_the_retry_captures)."""
    assert "500" in schema["paths"][f"/api/v1/webhooks/{provider}"]["post"]["responses"]


def test_only_the_operations_that_take_a_service_key_list_it_as_their_security(schema):
    """A key is 403 everywhere but the /users/{user_id}/ usage and hold endpoints: a client
    generated from the schema must not offer it elsewhere."""
    with_key = {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"serviceKey": []} in operation.get("security", [])
    }

    assert with_key
    assert {operation.split(" ", 1)[1] for operation in with_key} == {
        path for path in schema["paths"] if path.startswith("/api/v1/users/{user_id}/")
    }
    assert {"jwtAuth": []} in schema["paths"]["/api/v1/user/usage"]["post"]["security"]


def test_the_schema_names_the_contract_version_the_service_implements(schema):
    """A client generated from the schema reads its version: the service answers contract
    1.1's additions (docs/api.md, "Additions, version 1.1"), so 1.0.0 told it they were not
    there."""
    docs = (ROOT / "docs" / "api.md").read_text()
    implemented = re.search(r"^## Additions, version (\d+\.\d+)$", docs, re.MULTILINE)

    assert schema["info"]["version"].startswith(f"{implemented[1]}.")
