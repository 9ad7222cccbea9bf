"""A usage refunded from the admin (a customer charged for work that failed): staff had to
call the API, the admin only listed usage."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.helpers import database_state
from tokens import selectors, services
from tokens.ledger import Work
from tokens.models import TokenTransaction, UsageRecord
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(user) -> UsageRecord:
    fund(user, 40)
    return services.usage_record(user_id=user.pk, work=Work(amount=15, feature="render")).usage


def _refund_url(usage: UsageRecord) -> str:
    return reverse("admin:tokens_usagerecord_refund", args=[usage.pk])


def test_staff_refund_a_usage_after_a_confirmation_page(staff_browser, staff_user, user, usage):
    page = staff_browser.get(reverse("admin:tokens_usagerecord_change", args=[usage.pk]))
    before = database_state()

    asked = staff_browser.get(_refund_url(usage))

    assert _refund_url(usage) in page.content.decode()
    assert asked.status_code == 200
    assert "15 tokens were charged" in asked.content.decode()
    assert database_state() == before

    done = staff_browser.post(_refund_url(usage))

    assert done.status_code == 302
    usage.refresh_from_db()
    assert usage.refunded_at is not None
    assert selectors.token_balance(user_id=user.pk).balance == 40
    refund = TokenTransaction.objects.get(transaction_type="refund")
    assert (refund.amount, refund.reference_id, refund.created_by) == (
        15,
        str(usage.entry_id),
        staff_user,
    )
    shown = staff_browser.get(reverse("admin:tokens_usagerecord_change", args=[usage.pk]))
    assert _refund_url(usage) not in shown.content.decode()
    assert list(selectors.ledger_check()) == []


def test_a_second_refund_is_refused_on_the_page_and_changes_nothing(staff_browser, usage):
    staff_browser.post(_refund_url(usage))
    before = database_state()

    again = staff_browser.post(_refund_url(usage))

    assert again.status_code == 200
    assert again.context["form"].non_field_errors() == ["This usage has already been refunded."]
    assert database_state() == before


def test_a_usage_a_plan_covered_is_marked_refunded_and_moves_no_tokens(staff_browser, user):
    with time_machine.travel(datetime(2026, 8, 1, tzinfo=UTC), tick=False):
        capture(checkout(user, plan=PlanFactory(usage_mode="unlimited")).invoice)
        covered = services.usage_record(user_id=user.pk, work=Work(amount=5)).usage
        entries = TokenTransaction.objects.count()

        done = staff_browser.post(_refund_url(covered))

    assert done.status_code == 302
    covered.refresh_from_db()
    assert covered.refunded_at is not None
    assert TokenTransaction.objects.count() == entries


def test_staff_who_may_only_view_are_not_offered_refund_and_are_refused(client, usage):
    member = UserFactory(is_staff=True)
    member.user_permissions.add(*Permission.objects.filter(codename="view_usagerecord"))
    client.force_login(member)
    page = client.get(reverse("admin:tokens_usagerecord_change", args=[usage.pk]))
    before = database_state()

    answers = [client.get(_refund_url(usage)), client.post(_refund_url(usage))]

    assert page.status_code == 200
    assert _refund_url(usage) not in page.content.decode()
    assert [answer.status_code for answer in answers] == [403, 403]
    assert database_state() == before
