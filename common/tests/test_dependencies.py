"""Dependencies point one way: pages -> billing -> catalog; tokens hears billing only through
billing.signals; accounts and catalog import no money app. Checked on the source, not by
convention, so a new import that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(app: str) -> dict[str, set[str]]:
    """Every module imported by each non-test module of `app`, by file."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / app).rglob("*.py"):
        if "tests" in path.relative_to(ROOT / app).parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                names |= _named_elsewhere(node)
        found[str(path.relative_to(ROOT))] = names
    return found


def _named_elsewhere(node: ast.AST) -> set[str]:
    """Modules reached other than by an import statement: `importlib.import_module("x")`
    (how a migration reaches another's helpers), and the apps a migration runs after (its
    `dependencies`), which tie its app to theirs as an import does."""
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return {node.args[0].value}
    if (
        isinstance(node, ast.Assign)
        and [getattr(target, "id", "") for target in node.targets] == ["dependencies"]
        and isinstance(node.value, ast.List)
    ):
        return {
            f"{dependency.elts[0].value}.migrations"
            for dependency in node.value.elts
            if isinstance(dependency, ast.Tuple) and isinstance(dependency.elts[0], ast.Constant)
        }
    return set()


def test_tokens_hears_billing_only_through_its_signals_in_apps_py():
    uses = [
        f"{module}: {name}"
        for module, names in imports_of("tokens").items()
        for name in names
        if name.split(".")[0] == "billing"
    ]

    assert sorted(uses) == [
        "tokens/apps.py: billing.signals",
        "tokens/apps.py: billing.signals.invoice_paid",
        "tokens/apps.py: billing.signals.invoice_refunded",
    ]


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [
        ("billing", "tokens"),
        ("billing", "pages"),
        ("catalog", "billing"),
        ("catalog", "tokens"),
        ("catalog", "pages"),
        ("accounts", "billing"),
        ("accounts", "tokens"),
        ("accounts", "catalog"),
        ("accounts", "pages"),
        ("tokens", "pages"),
        ("tokens", "catalog"),
        ("common", "billing"),
        ("common", "tokens"),
        ("common", "catalog"),
        ("common", "pages"),
        ("events", "billing"),
        ("events", "tokens"),
        ("events", "catalog"),
        ("events", "pages"),
        ("events", "jobs"),
        ("tokens", "jobs"),
        ("billing", "jobs"),
    ],
)
def test_no_app_imports_against_the_direction(app, forbidden):
    uses = [
        f"{module}: {name}"
        for module, names in imports_of(app).items()
        for name in names
        if name.split(".")[0] == forbidden
    ]

    assert uses == []
