"""The staff billing overview: 30-day totals with the currency, an empty state, the figures
behind the chart, and webhook endpoints that fail."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing import services
from billing.tests.helpers import capture, checkout
from catalog.models import Currency
from catalog.selectors import default_currency
from catalog.tests.factories import TokenBundleFactory
from events.models import WebhookEndpoint
from tokens import services as token_services
from tokens.models import LedgerCheckRun, TokenAccount
from tokens.selectors import LedgerMismatch
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


def endpoint(url: str, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url=url, event_types="|invoice.paid|", secret="whsec_x", **fields
    )


def test_the_totals_say_revenue_with_its_currency_tokens_sold_and_paying_users(
    staff_browser, bundles
):
    first, second, refunded = UserFactory(), UserFactory(), UserFactory()
    capture(checkout(first, bundles=bundles[:2]).invoice, reference="a")
    capture(checkout(first, bundles=bundles[:1]).invoice, reference="b")
    capture(checkout(second, bundles=bundles[2:]).invoice, reference="c")
    taken_back = checkout(refunded, bundles=bundles[:1]).invoice
    capture(taken_back, reference="d")
    services.invoice_refund(invoice_id=taken_back.pk)

    response = staff_browser.get(reverse("billing-overview"))

    page = response.content.decode()
    assert '<dd id="total-revenue">$80.00 USD</dd>' in page
    assert '<dd id="total-refunds">$10.00 USD</dd>' in page
    assert '<dd id="net-revenue">$70.00 USD</dd>' in page
    assert '<dd id="total-tokens">1080</dd>' in page
    assert '<dd id="paying-users">2</dd>' in page
    assert response.context["chart"]["currency"] == "USD"
    assert "Revenue (USD)" in page
    assert 'id="daily-figures"' in page
    assert 'id="no-sales"' not in page


def daily_cells(page: str) -> dict[str, tuple[str, str, str]]:
    """The table behind the chart as it reads: each day's revenue, refunds and tokens."""
    table = page.split('id="daily-figures"')[1].split("</table>")[0]
    cell = r"<td>([^<]*)</td>"
    rows = re.findall(rf"<tr>{cell * 4}</tr>", table)
    return {day: (revenue, refunds, tokens) for day, revenue, refunds, tokens in rows}


def test_a_refund_is_counted_on_its_own_day_and_the_sale_stays_on_its_day(
    staff_browser, user, bundles
):
    """Revenue counted only invoices still paid: a refund today took a sale of 10 days ago
    out of that day's revenue, which staff had read and booked, and a refund of a sale older
    than 30 days showed nowhere. The sale stays on the day it was paid; the refund is on the
    day it was made, and the net is given beside them."""
    now = timezone.now()
    recent = checkout(user, bundles=bundles[:1]).invoice
    with time_machine.travel(now - timedelta(days=10), tick=False):
        capture(recent, reference="recent")
    old = checkout(user, bundles=bundles[1:2]).invoice
    with time_machine.travel(now - timedelta(days=40), tick=False):
        capture(old, reference="old")
    services.invoice_refund(invoice_id=recent.pk)
    services.invoice_refund(invoice_id=old.pk)

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    cells = daily_cells(page)
    sold_on = (now - timedelta(days=10)).date().isoformat()
    assert cells[sold_on] == ("10.00", "0.00", "10")
    assert cells[now.date().isoformat()] == ("0.00", "55.00", "0")
    assert '<dd id="total-revenue">$10.00 USD</dd>' in page
    assert '<dd id="total-refunds">$55.00 USD</dd>' in page
    assert '<dd id="net-revenue">$-45.00 USD</dd>' in page


@pytest.mark.parametrize(
    ("code", "places", "price", "sold", "none"),
    [("JPY", 0, "500", "500", "0"), ("USD", 2, "45", "45.00", "0.00")],
)
def test_the_figures_by_day_are_written_in_the_currency_places(
    staff_browser, user, code, places, price, sold, none
):
    """The table behind the chart wrote the database's Decimal as it came: 500.00 for a
    yen sale beside the total's 500, and 0 beside 45.00 for the days without a sale."""
    Currency.objects.filter(is_default=True).update(code=code, decimal_places=places)
    bundle = TokenBundleFactory(price=Decimal(price), currency=default_currency())
    capture(checkout(user, bundles=[bundle]).invoice)

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    cells = daily_cells(page)
    today = timezone.now().date().isoformat()
    assert cells.pop(today) == (sold, none, "1000")
    assert {revenue for revenue, _refunds, _tokens in cells.values()} == {none}


def test_the_times_listed_say_their_zone(staff_browser):
    """The lists of endpoints, invoices and payment events wrote times as "2026-12-07 17:40"
    with no zone, where the page's other times say UTC."""
    page = staff_browser.get(reverse("billing-overview")).content.decode()

    headings = re.findall(r'<th scope="col">([^<]*)</th>', page)
    for heading in ("Failing since", "Disabled", "Created", "Received"):
        assert f"{heading} (UTC)" in headings


def test_with_no_sales_it_says_so_instead_of_an_empty_chart(staff_browser):
    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert "No sales yet in the last 30 days." in page
    assert 'id="revenue-chart"' not in page
    assert '<dd id="paying-users">0</dd>' in page


def test_failing_and_disabled_webhook_endpoints_are_listed(staff_browser):
    since = timezone.now() - timedelta(hours=5)
    endpoint("https://failing.example.com/hook", failing_since=since)
    endpoint(
        "https://gone.example.com/hook",
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason="Failing for 3 days",
    )
    endpoint("https://fine.example.com/hook")

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert "Webhook endpoints failing or disabled (2)" in page
    assert "https://failing.example.com/hook" in page
    assert "Failing for 3 days" in page
    assert "https://fine.example.com/hook" not in page


@pytest.mark.sqlite
def test_every_failing_endpoint_is_counted_and_failing_ones_come_before_deleted_ones(
    staff_browser,
):
    """The heading counted the 50 endpoints listed (`|length`), while the other sections
    count everything; and on SQLite (NULLs sort first) endpoints being deleted, with no
    failing_since, took the listed places before the ones that fail."""
    since = timezone.now() - timedelta(days=1)
    for number in range(3):
        endpoint(
            f"https://deleted-{number}.example.com/hook",
            is_active=False,
            disabled_at=timezone.now(),
            disabled_reason="The endpoint is being deleted.",
        )
    for number in range(50):
        endpoint(f"https://failing-{number}.example.com/hook", failing_since=since)

    response = staff_browser.get(reverse("billing-overview"))

    page = response.content.decode()
    assert "Webhook endpoints failing or disabled (53)" in page
    listed = response.context["overview"].failing_endpoints
    assert (len(listed), sum(e.failing_since is None for e in listed)) == (50, 0)


def test_the_ledger_section_is_the_last_recorded_audit_not_a_new_one(staff_browser):
    """The page audited every account again on each load: 10,000 accounts of 100,000 entries
    took about 20 s of queries and the page 27 s. It shows what the newest recorded
    `ledger_check` found, and when, and audits nothing."""
    drifted_since = UserFactory(email="drifted-since@example.com")
    fund(drifted_since, 10)
    TokenAccount.objects.filter(user=drifted_since).update(balance=7)
    found_user = UserFactory(email="found@example.com")
    found = LedgerMismatch(uuid4(), found_user.pk, ["balance 3 != sum of entries 4"])
    token_services.ledger_check_record(
        failing_accounts=1, failures=[found], now=timezone.now() - timedelta(minutes=20)
    )

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert ("found@example.com" in page, "drifted-since@example.com" in page) == (True, False)
    assert reverse("admin:accounts_user_change", args=[found_user.pk]) in page
    assert "balance 3 != sum of entries 4" in page
    assert "Accounts failing the last ledger check (1)" in page
    assert "more than two hours ago" not in page


def test_ledger_failures_beyond_the_list_are_not_counted_as_its_length(staff_browser, monkeypatch):
    """The heading gave the length of the list, capped: 50 however many accounts failed.
    It gives what the last recorded audit counted, and how many of them it lists."""
    monkeypatch.setattr(token_services.audit, "FAILURES_KEPT", 2)
    users = [UserFactory(email=f"f{n}@example.com") for n in range(3)]
    failures = [LedgerMismatch(uuid4(), user.pk, ["held 1 != 0"]) for user in users]
    token_services.ledger_check_record(
        failing_accounts=3, failures=failures, now=timezone.now().replace(2026, 3, 4, 5, 6)
    )

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert "Accounts failing the last ledger check (3; the first 2 shown)" in page
    assert "finished 2026-03-04 05:06 UTC and found 3 failing accounts." in page
    assert "That is more than two hours ago: the audit may have stopped running." in page
    assert ("f1@example.com" in page, "f2@example.com" in page) == (True, False)


def test_a_run_recorded_with_emails_before_ids_still_shows_them(staff_browser):
    """Runs recorded before the audit named users by id kept their email instead."""
    LedgerCheckRun.objects.create(
        failing_accounts=1,
        failures=[{"account_id": str(uuid4()), "user_email": "old@example.com", "problems": ["x"]}],
    )

    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert "<td>old@example.com</td><td>x</td>" in page


def test_without_a_recorded_audit_it_says_so(staff_browser):
    page = staff_browser.get(reverse("billing-overview")).content.decode()

    assert "Accounts failing the last ledger check (no audit recorded)" in page
    assert "No ledger audit (manage.py ledger_check) has been recorded yet." in page
