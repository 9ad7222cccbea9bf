"""Registrations of one address at the same moment, on PostgreSQL with real threads, each
with its own connection: the unique index decides, so exactly one account is made, with one
trial, and the others are told the address is taken."""

import pytest
from django.test import Client

from accounts.models import User
from common.tests.concurrency import run_together
from tokens.models import TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)

REGISTER = "/api/v1/auth/register"
SPELLINGS = [
    "racer@ex\u00e4mple.com",
    "RACER@EX\u00c4MPLE.COM",
    "racer@xn--exmple-cua.com",
    "racer@exa\u0308mple.com",  # "a" and a combining diaeresis
]


def register(email: str, address: str):
    def call() -> tuple[int, str]:
        answer = Client().post(
            REGISTER,
            {"email": email, "password": "a-long-enough-password-1"},
            content_type="application/json",
            REMOTE_ADDR=address,
        )
        return answer.status_code, answer.json().get("code", "")

    return call


def test_registrations_of_one_address_in_several_spellings_at_once_make_one_account(settings):
    settings.TRIAL_TOKENS = 3
    calls = [register(email, f"10.9.0.{n}") for n, email in enumerate(SPELLINGS)]

    answers = run_together(calls, workers=len(calls))

    assert sorted(answers) == [(201, "")] + [(400, "validation_error")] * 3
    assert list(User.objects.values_list("email", flat=True)) == ["racer@ex\u00e4mple.com"]
    assert TokenTransaction.objects.count() == 1
