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
