"""Each customer page costs the same few queries however many invoices, lines, lots, plans,
add-ons and uses the customer has: a template that reached for a related row per item (an
N+1) would draw a long history slower and slower."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from tokens import services as token_services
from tokens.ledger import Work
from tokens.services import usage_record
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db

PAGES = {
    "home": lambda big, pending: reverse("pages:home"),
    "purchase": lambda big, pending: reverse("pages:purchase"),
    "account": lambda big, pending: reverse("pages:account"),
    "balance": lambda big, pending: reverse("pages:balance"),
    "invoices": lambda big, pending: reverse("pages:invoices"),
    "invoice": lambda big, pending: reverse("pages:invoice", args=[big.pk]),
    "receipt": lambda big, pending: reverse("pages:receipt", args=[big.pk]),
    "transactions": lambda big, pending: reverse("pages:transactions"),
    "csv": lambda big, pending: reverse("pages:transactions") + "?format=csv",
    "usage": lambda big, pending: reverse("pages:usage"),
    "success": lambda big, pending: f"{reverse('pages:purchase-success')}?invoice={big.pk}",
    "status": lambda big, pending: f"{reverse('pages:purchase-status')}?invoice={big.pk}",
    "cancel": lambda big, pending: f"{reverse('pages:purchase-cancel')}?invoice={pending.pk}",
}
# What each page costs with the session, the user and the header's balance.
BUDGETS = {
    "home": 9,
    "purchase": 11,
    "account": 8,
    "balance": 3,
    "invoices": 6,
    "invoice": 8,
    "receipt": 4,
    "transactions": 5,
    "csv": 3,
    "usage": 7,
    "success": 9,
    "status": 8,
    "cancel": 9,
}


def history(user, n: int):
    """n of everything: bundles, plans and add-ons on sale, paid and pending invoices, an
    invoice of n bundles, a plan and n add-ons, lots that expire, uses half refunded."""
    bundles = [TokenBundleFactory() for _ in range(n)]
    plans = [PlanFactory() for _ in range(n)]
    add_ons = [AddOnFactory() for _ in range(n)]
    for number in range(n):
        paid = checkout(user, bundles=bundles[: number + 1], key=f"paid-{number}").invoice
        capture(paid, reference=f"pay-{number}")
        pending = checkout(user, bundles=bundles[:2], key=f"open-{number}").invoice
    big = checkout(user, plan=plans[0], add_ons=add_ons, bundles=bundles, key="big").invoice
    capture(big, reference="pay-big")
    for number in range(n):
        grant(user, 5, expires_at=timezone.now() + timedelta(days=number + 1))
    fund(user, 1000)
    for number in range(n):
        used = usage_record(
            user_id=user.pk, work=Work(amount=1, feature=f"f{number}", usage_key=f"u{number}")
        )
        if number % 2:
            token_services.usage_record_refund(
                user_id=user.pk, usage_id=used.usage.pk, actor_id=None
            )
    return big, pending


def test_every_page_costs_the_same_queries_with_a_long_history(client, user):
    big, pending = history(user, 12)
    client.force_login(user)

    spent = {}
    for name, url in PAGES.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(big, pending))
            # The CSV export reads its rows as it streams them.
            body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, name
        assert body, name
        spent[name] = len(queries)

    assert {name: count for name, count in spent.items() if count > BUDGETS[name]} == {}
