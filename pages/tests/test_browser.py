"""The pages in a real browser: Debian's Chromium, driven by Playwright, headless, 375 px wide.

Stripe is the fake on loopback: its checkout page's Pay button completes the session, sends
the signed webhook to the live server and redirects to the success page, as Stripe would.
Screenshots of every page go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.tests.factories import PASSWORD, UserFactory
from billing.models import Invoice
from pages.tests.browsing import Console, sign_in, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_buy_two_bundles_pay_and_see_the_tokens(page: Page, site: str, bundles):
    page.goto(f"{site}/sign-up")
    snapshot(page, "sign-up")
    page.get_by_label("Email").fill("buyer@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(f"{site}/")
    expect(page.locator("#balance")).to_have_text("0")
    snapshot(page, "home-new-user")
    page.get_by_role("link", name="Buy tokens").first.click()
    expect(page.get_by_text("Best value")).to_have_count(1)
    expect(page.get_by_text("Save 99%")).to_be_visible()
    snapshot(page, "purchase")
    page.get_by_label("Starter").check()
    page.get_by_label("Team").check()
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("heading", name="Fake Stripe Checkout")).to_be_visible()
    expect(page.locator("#amount")).to_have_text("50.00 USD")
    snapshot(page, "stripe-checkout")
    page.get_by_role("button", name="Pay").click()

    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    expect(page.locator("#tokens-credited")).to_have_text("1050")
    expect(page.locator("#balance")).to_have_text("1050")
    snapshot(page, "purchase-success")

    page.get_by_role("link", name="Transactions", exact=True).click()
    expect(page.locator("table.ledger tbody tr")).to_have_count(2)
    page.get_by_label("Type").select_option("purchase")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.ledger tbody tr")).to_have_count(2)
    page.get_by_label("Type").select_option("usage")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No transactions match.")).to_be_visible()
    page.get_by_label("Type").select_option("purchase")
    page.get_by_role("button", name="Filter").click()
    snapshot(page, "transactions")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(int(row["amount"]) for row in rows) == [50, 1000]
    assert {row["transaction_type"] for row in rows} == {"purchase"}

    assert page.console.errors == []


def test_buying_through_the_test_payment_page_decline_then_pay(
    page: Page, test_payments_site: str, bundles
):
    site = test_payments_site
    user = UserFactory(email="demo@example.com")
    sign_in(page, site, user.email)
    page.goto(f"{site}/purchase")
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("note")).to_contain_text("Test payment.")
    expect(page.get_by_role("note")).to_contain_text("no money moves")
    expect(page.locator("#amount")).to_have_text("10.00 USD")
    page.get_by_role("button", name="Decline").click()

    expect(page.locator("#nothing-charged")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("0")
    page.get_by_role("link", name="Choose again").click()
    page.get_by_label("Starter").check()
    page.get_by_label("Team").check()
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("heading", name="Pay invoice")).to_be_visible()
    expect(page.locator("#amount")).to_have_text("50.00 USD")
    snapshot(page, "test-checkout")
    page.get_by_role("button", name="Pay $50.00").click()

    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    expect(page.locator("#tokens-credited")).to_have_text("1050")
    expect(page.locator("#balance")).to_have_text("1050")
    statuses = sorted(Invoice.objects.filter(user=user).values_list("status", "provider"))
    assert statuses == [("paid", "test"), ("pending", "")]
    assert page.console.errors == []


def test_the_balance_widget_refreshes_by_itself(page: Page, site: str, bundles):
    user = UserFactory(email="widget@example.com")
    sign_in(page, site, user.email)
    expect(page.locator("#balance")).to_have_text("0")

    from tokens.tests.factories import fund

    fund(user, 25)

    expect(page.locator("#balance")).to_have_text("25", timeout=15_000)
    assert page.console.errors == []


def test_cancelling_the_payment_charges_nothing(page: Page, site: str, bundles):
    user = UserFactory(email="undecided@example.com")
    sign_in(page, site, user.email)
    page.goto(f"{site}/purchase")
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#nothing-charged")).to_have_text(
        "Nothing was charged. Your balance is unchanged."
    )
    expect(page.locator("#balance")).to_have_text("0")
    expect(page.locator("#invoice-open")).to_contain_text("for $10.00 is still open")
    snapshot(page, "purchase-cancel")
    page.get_by_role("link", name="See invoice").click()
    expect(page.get_by_role("button", name="Pay $10.00")).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="Choose again").click()
    expect(page).to_have_url(f"{site}/purchase")
    assert page.console.errors == []


def test_buying_nothing_says_so(page: Page, site: str, bundles):
    user = UserFactory(email="empty@example.com")
    sign_in(page, site, user.email)
    page.goto(f"{site}/purchase")

    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("alert")).to_have_text("Choose at least one bundle, plan or add-on.")
    snapshot(page, "purchase-empty")


def test_staff_see_the_billing_overview_chart(chromium, site: str, bundles):
    from billing.tests.helpers import capture, checkout

    buyer = UserFactory()
    capture(checkout(buyer, bundles=bundles[2:]).invoice)
    pending = checkout(buyer, bundles=bundles[:1]).invoice
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Billing overview").click()

    drawn = page.wait_for_function(
        """() => {
            const chart = window.Chart && window.Chart.getChart("revenue-chart");
            return chart && { labels: chart.data.labels.length, sets: chart.data.datasets.length,
                              revenue: chart.data.datasets[0].data.at(-1),
                              label: chart.data.datasets[0].label };
        }"""
    ).json_value()
    assert drawn == {"labels": 30, "sets": 2, "revenue": 5, "label": "Revenue (USD)"}
    expect(page.locator("#total-revenue")).to_have_text("$5.00 USD")
    snapshot(page, "admin-billing-overview")
    height = page.locator("#revenue-chart").bounding_box()["height"]
    assert height >= 250, f"the chart is {height}px tall at 375px"

    page.goto(f"{site}/admin/billing/invoice/{pending.pk}/change/")
    page.get_by_role("link", name="Cancel").click()
    snapshot(page, "admin-invoice-cancel")
    page.get_by_role("button", name=f"Yes, cancel {pending.number}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{pending.number} is cancelled.")
    pending.refresh_from_db()
    assert pending.status == "cancelled"
    assert console.errors == []
    context.close()


def test_back_then_buy_again_answers_the_same_invoice(page: Page, test_payments_site: str, bundles):
    """The purchase page is no-store, so Back draws it anew; the browser puts the ticks back,
    and must put the page's `submission` back with them, or Buy is a second checkout of the
    same cart (a second pending invoice), and Buy after paying is a new purchase instead of
    the receipt."""
    site = test_payments_site
    user = UserFactory(email="back@example.com")
    sign_in(page, site, user.email)
    page.goto(f"{site}/purchase")
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()
    expect(page.get_by_role("heading", name="Pay invoice")).to_be_visible()

    page.go_back()
    expect(page.get_by_label("Taster")).to_be_checked()
    page.get_by_role("button", name="Buy").click()
    expect(page.get_by_role("heading", name="Pay invoice")).to_be_visible()
    assert Invoice.objects.filter(user=user).count() == 1

    page.get_by_role("button", name="Pay $10.00").click()
    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    page.go_back()
    page.go_back()
    expect(page).to_have_url(f"{site}/purchase")
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    assert list(Invoice.objects.filter(user=user).values_list("status", flat=True)) == ["paid"]
    # The paid test payment page that the first Back shows is a 409 ("already paid").
    assert [error for error in page.console.errors if "409 (Conflict)" not in error] == []
