"""The usage page's by-day table had a row per day per feature: a service that names a
feature per call (a request id, a document name) drew one row per use, thousands on a
slow page. Each day now shows its features that used the most tokens and sums the rest in
one row; the day's totals are unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pages.tests.test_views_ledger import usage_by_day_cells
from tokens import services as token_services
from tokens.ledger import Work
from tokens.models import TokenAccount, UsageRecord, UsageSource
from tokens.services import usage_record
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

FEATURES = 40


def use_features(user, count: int, *, prefix: str = "call") -> None:
    """`count` features of one use each, the nth costing n tokens; every third refunded."""
    for number in range(1, count + 1):
        used = usage_record(
            user_id=user.pk,
            work=Work(
                amount=number, feature=f"{prefix}-{number:03}", usage_key=f"{prefix}{number}"
            ),
        )
        if number % 3 == 0:
            token_services.usage_record_refund(
                user_id=user.pk, usage_id=used.usage.pk, actor_id=None
            )


def totals(cells: list[dict[str, str]]) -> tuple[int, ...]:
    columns = ["Uses", "Tokens used", "Tokens charged", "Tokens refunded"]
    return tuple(sum(int(cell[column]) for cell in cells) for column in columns)


def test_a_day_of_many_features_shows_the_top_ones_and_sums_the_rest(browser, user):
    fund(user, 10_000)
    use_features(user, FEATURES)

    page = browser.get(reverse("pages:usage")).content.decode()

    cells = usage_by_day_cells(page)
    # The ten that used the most tokens, by name.
    top = [f"call-{number:03}" for number in range(FEATURES, FEATURES - 10, -1)]
    assert [cell["Feature"] for cell in cells] == [*sorted(top), "30 other features"]
    everything = UsageRecord.objects.filter(account__user=user)
    refunded = everything.filter(refunded_at__isnull=False)
    assert totals(cells) == (
        FEATURES,
        sum(use.amount for use in everything),
        sum(use.charged for use in everything) - sum(use.charged for use in refunded),
        sum(use.charged for use in refunded),
    )
    other = cells[-1]
    assert (other["Uses"], other["Tokens used"]) == ("30", str(sum(range(1, 31))))


def test_each_day_is_bounded_on_its_own(browser, user):
    """Yesterday's uses were covered by a plan (written as such: usage is append-only, so
    its time cannot be moved afterwards)."""
    fund(user, 10_000)
    account = TokenAccount.objects.get(user=user)
    yesterday = timezone.now() - timedelta(days=1)
    UsageRecord.objects.bulk_create(
        UsageRecord(
            account=account,
            amount=number,
            charged=0,
            source=UsageSource.SUBSCRIPTION,
            feature=f"yesterday-{number:03}",
            created_at=yesterday,
        )
        for number in range(1, 13)
    )
    use_features(user, 3, prefix="today")

    cells = usage_by_day_cells(browser.get(reverse("pages:usage")).content.decode())

    assert [cell["Feature"] for cell in cells] == [
        "today-001",
        "today-002",
        "today-003",
        *[f"yesterday-{number:03}" for number in range(3, 13)],
        "2 other features",
    ]
    assert (cells[-1]["Uses"], cells[-1]["Tokens used"], cells[-1]["Covered by plan"]) == (
        "2",
        "3",
        "2",
    )
    assert totals(cells)[:2] == (15, sum(range(1, 13)) + sum(range(1, 4)))


def test_many_features_cost_the_page_no_more_queries_than_one(browser, user):
    fund(user, 10_000)
    use_features(user, 1, prefix="first")
    with CaptureQueriesContext(connection) as few:
        browser.get(reverse("pages:usage"))
    use_features(user, FEATURES)

    with CaptureQueriesContext(connection) as many:
        browser.get(reverse("pages:usage"))

    assert len(many) == len(few)
