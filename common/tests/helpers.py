"""Helpers for tests: proving that a refused request wrote nothing."""

from __future__ import annotations

from django import forms
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


def form_as_sent(form: forms.Form, drawn: str) -> dict:
    """A form's fields as a browser sends them back: each one the page `drawn` drew (hidden
    ones too) as it drew it, not as the row is by the time it is sent."""
    data = {}
    for field in form:
        if f'name="{field.html_name}"' not in drawn:
            continue
        value = field.value()
        if isinstance(field.field, forms.BooleanField):
            if value:
                data[field.html_name] = "on"
        elif isinstance(value, list):
            data[field.html_name] = [str(item) for item in value]
        elif value is not None:
            data[field.html_name] = str(value)
    return data


def admin_form_as_sent(page) -> dict:
    """An admin change page's form as a browser sends it back (form_as_sent)."""
    return form_as_sent(page.context["adminform"].form, page.content.decode())
