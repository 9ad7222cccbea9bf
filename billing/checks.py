"""System checks: `manage.py check --deploy` warns while test payments are on."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


def payments_test_mode_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if not settings.PAYMENTS_TEST_MODE:
        return []
    return [
        checks.Warning(
            "PAYMENTS_TEST_MODE is on: anyone signed in can mark their invoices paid and get "
            "tokens without paying.",
            hint="Unset PAYMENTS_TEST_MODE (it is for `make run` and demos only).",
            id="billing.W001",
        )
    ]


def register_checks() -> None:
    checks.register(payments_test_mode_check, checks.Tags.security, deploy=True)
