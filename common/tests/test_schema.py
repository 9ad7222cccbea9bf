import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
ROUTE_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE)` \| `(/api/v1/[^`]*)` \|", re.MULTILINE)


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


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
