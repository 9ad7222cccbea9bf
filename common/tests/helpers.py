"""Helpers for tests: proving that a refused request wrote nothing."""

from __future__ import annotations

from django.apps import apps

PROJECT_APPS = ["accounts", "catalog", "billing", "tokens", "common"]


def database_state() -> dict[str, list[tuple]]:
    """Every row of every project model, in primary-key order.

    Compare the state before and after a refused request: any insert, update or delete shows.
    """
    state = {}
    for app_label in PROJECT_APPS:
        if not apps.is_installed(app_label):
            continue
        for model in apps.get_app_config(app_label).get_models():
            state[model._meta.label] = list(model.objects.order_by("pk").values_list())
    return state


def database_changes(before: dict, after: dict) -> dict[str, dict[str, list[tuple]]]:
    """What changed between two `database_state()`s, per model with a change: the rows
    `added` and `removed` (a changed row is in both: as it is after and as it was before).
    Rows are matched by their first value, the primary key."""
    changes = {}
    for model in before.keys() | after.keys():
        old = {row[0]: row for row in before.get(model, [])}
        new = {row[0]: row for row in after.get(model, [])}
        added = [row for key, row in new.items() if old.get(key) != row]
        removed = [row for key, row in old.items() if new.get(key) != row]
        if added or removed:
            changes[model] = {"added": added, "removed": removed}
    return changes
