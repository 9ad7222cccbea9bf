"""The documents against the code, where a fact can be read from both: a reader who trusts
docs/dependencies.md to say why each package is installed finds every one there, and nothing
that is not installed; an integrator reading docs/api.md finds every event type the service
sends, every error code its API answers and every field of its answers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
from django.core.management import call_command

from events.models import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "billing", "catalog", "common", "config", "events", "jobs", "tokens"]
# Codes that are not API answers: the base class of refusals whose subclasses name their own
# code, and the test payment page's own refusals, which it shows as pages.
NOT_API_CODES = {"rejected", "invalid_form", "already_submitted"}


def normalized(name: str) -> str:
    """A package name as pip compares them (PEP 503): case and `-`/`_`/`.` do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def required_packages() -> set[str]:
    """Every package pinned in requirements/*.txt, without extras or versions."""
    names = set()
    for path in (ROOT / "requirements").glob("*.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            names.add(normalized(re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0]))
    return names


def documented_packages() -> set[str]:
    """The Python packages named in docs/dependencies.md's `| package | why |` tables (its
    `| tool | why |` tables are programs from Debian or npm, and so are rows marked `npm`)."""
    names = set()
    in_packages = False
    for line in (ROOT / "docs" / "dependencies.md").read_text().splitlines():
        if not line.startswith("|"):
            in_packages = False
            continue
        first = line.split("|")[1].strip()
        if first in {"package", "tool"}:
            in_packages = first == "package"
            continue
        if not in_packages or set(first) <= {"-", " "} or "npm" in first:
            continue
        for part in re.sub(r"\(.*?\)", "", first).split(","):
            names.add(normalized(part.split()[0].split("[")[0]))
    return names


def test_every_pinned_package_is_in_docs_dependencies_with_a_reason():
    """django-tasks, django-tasks-db (the worker) and standardwebhooks (the events' signatures)
    were pinned in requirements/base.txt but missing from docs/dependencies.md."""
    assert sorted(required_packages() - documented_packages()) == []


def test_docs_dependencies_names_no_package_that_is_not_pinned():
    assert sorted(documented_packages() - required_packages()) == []


def error_codes() -> set[str]:
    """Every `code = "..."` set in a class body of the apps' code (their refusals)."""
    codes = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ClassDef):
                    continue
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and [getattr(t, "id", None) for t in statement.targets] == ["code"]
                        and isinstance(statement.value, ast.Constant)
                    ):
                        codes.add(statement.value.value)
    return codes - NOT_API_CODES


def test_docs_api_names_every_event_type_and_every_error_code():
    """docs/api.md, the contract's counterpart in the repository, had the contract's version 1
    but not its version 1.1 additions, so it never listed the event types a webhook endpoint
    can subscribe to (`invoice.created`, `hold.expired`, ...), the burn order its own sections
    call "the lot order", or the hold codes `exceeds_hold` and `hold_expired`."""
    text = (ROOT / "docs" / "api.md").read_text()

    assert sorted(name for name in [*EVENT_TYPES, *error_codes()] if f"`{name}`" not in text) == []


def test_docs_api_names_every_field_the_schema_gives_an_answer(tmp_path):
    """Staff invoices answered `stripe_session_id` and `token_purchases`, and API keys
    `last_used_at` and `revoked_at` (a revoked key stays listed), which docs/api.md never
    named: an integrator could not tell what they hold, or that the list shows revoked keys."""
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    text = (ROOT / "docs" / "api.md").read_text()
    fields = {
        field: name
        for name, component in schema["components"]["schemas"].items()
        for field in component.get("properties", {})
    }
    # Named as code: `field`, in a shape {a, field, b}, or as a JSON key "field".
    unnamed = {
        field: name
        for field, name in fields.items()
        if not re.search(rf"[`{{, \"]{re.escape(field)}[`}}, \":?]", text)
    }

    assert unnamed == {}
