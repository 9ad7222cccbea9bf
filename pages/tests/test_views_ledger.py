import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from conftest import client_for
from tokens import services as token_services
from tokens.ledger import Work
from tokens.selectors import HistoryFilters, token_history
from tokens.services import usage_record
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(user):
    fund(user, 500)
    for amount in range(1, 61):
        token_services.tokens_debit(
            user_id=user.pk, amount=amount % 7 + 1, description=f"job {amount}"
        )
    stranger = UserFactory()
    fund(stranger, 99)
    token_services.tokens_debit(user_id=stranger.pk, amount=1, description="stranger job")


def test_transactions_are_newest_first_50_a_page(browser, ledger):
    first = browser.get(reverse("pages:transactions"))
    second = browser.get(reverse("pages:transactions"), {"page": 2})

    assert len(first.context["page"].object_list) == 50
    assert [e.description for e in second.context["page"].object_list][-1] == "test funds"
    assert "job 60" in first.content.decode()
    assert "stranger job" not in first.content.decode() + second.content.decode()


def test_the_unfiltered_pager_counts_from_the_account_not_the_ledger(browser, ledger):
    """A history of millions of entries was counted row by row on each page's load: unfiltered,
    the account's entry count says how many there are (as the API's history does)."""
    with CaptureQueriesContext(connection) as queries:
        last = browser.get(reverse("pages:transactions"), {"page": 2})

    counted = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counted == []
    assert (last.context["page"].paginator.count, last.context["page"].paginator.num_pages) == (
        61,
        2,
    )
    assert len(last.context["page"].object_list) == 11


def test_transactions_filter_by_type_and_date(browser, ledger):
    usage = browser.get(reverse("pages:transactions"), {"type": "usage"})
    future = browser.get(reverse("pages:transactions"), {"date_from": "2999-01-01"})

    assert usage.context["page"].paginator.count == 60
    assert future.context["page"].paginator.count == 0


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "yesterday"},
        {"type": "gift"},
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
    ],
)
def test_bad_filters_are_400_and_offer_no_export_of_what_they_did_not_filter(browser, params):
    """The refused page's Export CSV lost the filters (`?format=csv`): the whole ledger was
    exported by someone who had asked for a part of it."""
    response = browser.get(reverse("pages:transactions"), params)

    assert response.status_code == 400
    assert 'id="export-csv"' not in response.content.decode()


def _older_link(page: str) -> str:
    return html.unescape(re.search(r'<a href="(\?[^"]*)">Older</a>', page).group(1))


@pytest.mark.parametrize("filters", [{}, {"type": "usage"}])
def test_the_older_page_neither_repeats_nor_skips_entries_that_arrive_meanwhile(
    browser, user, ledger, filters
):
    """The pager counted from the newest entry at each load: five uses recorded while the
    customer read page 1 (an integration at work) pushed its last five rows onto page 2,
    which showed them again. The pager's links now keep the ledger as page 1 read it."""
    first = browser.get(reverse("pages:transactions"), filters)
    shown = [entry.number for entry in first.context["page"].object_list]
    for job in range(5):
        token_services.tokens_debit(user_id=user.pk, amount=1, description=f"meanwhile {job}")

    second = browser.get(reverse("pages:transactions") + _older_link(first.content.decode()))

    older = [entry.number for entry in second.context["page"].object_list]
    kind = HistoryFilters(transaction_type=filters.get("type"))
    expected = [
        entry.number
        for entry in token_history(user_id=user.pk, filters=kind)
        if entry.number < shown[-1]
    ]
    assert older == expected
    assert second.context["page"].paginator.count == first.context["page"].paginator.count


def test_a_page_past_the_end_is_404(browser, ledger):
    assert browser.get(reverse("pages:transactions"), {"page": 99}).status_code == 404


def test_csv_export_has_the_filtered_rows_and_only_mine(browser, ledger):
    response = browser.get(reverse("pages:transactions"), {"type": "adjustment", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Disposition"] == 'attachment; filename="token-transactions.csv"'
    assert [(row["transaction_type"], row["amount"]) for row in rows] == [("adjustment", "500")]


def test_the_balance_endpoint(browser, user):
    fund(user, 7)

    assert browser.get(reverse("pages:balance")).json() == {
        "balance": 7,
        "available": 7,
        "held": 0,
        "expiring_next": None,
    }


def test_the_balance_endpoint_writes_the_next_expiry_as_the_api_does(browser, user):
    lot = grant(user, 5, expires_at=timezone.now() + timedelta(days=3))
    api = client_for(user).get("/api/v1/user/tokens/balance").json()

    polled = browser.get(reverse("pages:balance")).json()

    assert polled["expiring_next"] == {
        "amount": 5,
        "expires_at": lot.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert polled["expiring_next"]["expires_at"] == api["expiring"][0]["expires_at"]


def test_the_billing_overview_shows_figures_and_problems(staff_browser, user, bundles):
    paid = checkout(user, bundles=bundles[2:]).invoice
    capture(paid)
    stale = checkout(user, bundles=bundles[:1]).invoice
    Invoice.objects.filter(pk=stale.pk).update(created_at=paid.created_at.replace(year=2025))

    response = staff_browser.get(reverse("billing-overview"))

    assert response.status_code == 200
    chart = response.context["chart"]
    assert len(chart["days"]) == len(chart["revenue"]) == len(chart["tokens"]) == 30
    assert chart["revenue"][-1] == "5.00"
    assert chart["tokens"][-1] == 1000
    assert stale.number in response.content.decode()
    assert reverse("billing-overview") in staff_browser.get(reverse("admin:index")).content.decode()


def test_the_billing_overview_is_staff_only(client, browser):
    assert client.get(reverse("billing-overview")).status_code == 302
    assert browser.get(reverse("billing-overview")).status_code == 302


def test_the_usage_page_shows_usage_by_day_and_feature_with_its_source(browser, user):
    fund(user, 20)
    usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    usage_record(user_id=user.pk, work=Work(amount=2, feature="design", usage_key="b"))

    response = browser.get(reverse("pages:usage"))

    page = response.content.decode()
    assert response.status_code == 200
    days = response.context["days"]
    assert [(d.feature, d.uses, d.amount, d.charged, d.covered) for d in days] == [
        ("design", 2, 5, 5, 0)
    ]
    assert page.count('data-label="Paid by">Tokens<') == 2


def usage_by_day_cells(page: str) -> list[dict[str, str]]:
    """The usage page's by-day table as it reads: each row's cells by their label."""
    table = page.split('id="usage-by-day"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [dict(re.findall(r'data-label="([^"]+)">([^<]*)<', row)) for row in rows]


def test_the_usage_page_charges_a_day_net_of_what_was_refunded_since(browser, user):
    """Work given back is not charged: the day's charge leaves the refunded use out and the
    page says what was refunded."""
    fund(user, 20)
    refunded = usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    usage_record(user_id=user.pk, work=Work(amount=2, feature="design", usage_key="b"))
    token_services.usage_record_refund(user_id=user.pk, usage_id=refunded.usage.pk, actor_id=None)

    page = browser.get(reverse("pages:usage")).content.decode()

    cells = usage_by_day_cells(page)
    assert [(c["Uses"], c["Tokens used"], c["Tokens charged"]) for c in cells] == [("2", "5", "2")]
    assert cells[0]["Tokens refunded"] == "3"


def test_the_usage_page_names_the_zone_of_every_time_it_shows(browser, user):
    fund(user, 20)
    used = usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    token_services.usage_record_refund(user_id=user.pk, usage_id=used.usage.pk, actor_id=None)

    page = browser.get(reverse("pages:usage")).content.decode()

    table = page.split('id="recent-usage"', 1)[1].split("</table>", 1)[0]
    timed = re.findall(r'data-label="([^"]+)">\d{4}-\d{2}-\d{2} \d{2}:\d{2}<', table)
    assert timed == ["When (UTC)", "Refunded (UTC)"]
