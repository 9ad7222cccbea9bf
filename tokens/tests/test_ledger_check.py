"""`manage.py ledger_check`: the ledger's audit as an operator runs it."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tokens import services
from tokens.models import TokenAccount

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def credit(user, amount: int) -> None:
    services.tokens_credit(
        user_id=user.pk, amount=amount, transaction_type="adjustment", description="test"
    )


def test_a_sound_ledger_exits_0_and_says_so(user):
    credit(user, 10)
    out = StringIO()

    call_command("ledger_check", stdout=out)

    assert "Every account agrees with its ledger entries." in out.getvalue()


def test_a_broken_ledger_exits_1_with_a_listing(user):
    credit(user, 1000)
    TokenAccount.objects.filter(user=user).update(balance=7)
    out = StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("ledger_check", stdout=out)

    assert failed.value.returncode == 1
    assert f"Ledger: {user.email}" in out.getvalue()
    assert "balance 7 != sum of entries 1000" in out.getvalue()


def test_json_lists_each_failing_account(user):
    credit(user, 5)
    account = TokenAccount.objects.get(user=user)
    TokenAccount.objects.filter(pk=account.pk).update(total_spent=3)
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("ledger_check", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {
        "failures": [
            {
                "account_id": str(account.pk),
                "user_email": user.email,
                "problems": ["total_spent 3 != entries 0"],
            }
        ]
    }
