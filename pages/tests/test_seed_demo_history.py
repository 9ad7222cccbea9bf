import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from billing.models import Invoice
from common.tests.helpers import database_state
from tokens.models import UsageRecord
from tokens.selectors import token_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user():
    call_command("seed_demo")
    return User.objects.get(email="demo@example.com")


def test_the_demo_user_gets_paid_refunded_and_pending_invoices_and_usage(demo_user):
    call_command("seed_demo_history")

    invoices = Invoice.objects.filter(user=demo_user)
    assert sorted(invoices.values_list("status", flat=True)) == ["paid", "pending", "refunded"]
    uses = UsageRecord.objects.filter(account__user=demo_user)
    assert uses.count() == 4
    assert uses.filter(refunded_at__isnull=False).count() == 1
    # 100 bought, 4 + 7 + 3 + 12 used, the 12 given back; the refunded Taster taken back.
    assert token_balance(user_id=demo_user.pk).balance == 100 - 14


def test_running_it_again_changes_nothing(demo_user):
    call_command("seed_demo_history")
    first = database_state()

    call_command("seed_demo_history")

    assert database_state() == first


def test_without_the_demo_user_it_says_what_to_run():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_demo_history")
