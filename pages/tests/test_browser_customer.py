"""The customer's pages in Debian's Chromium at 375 and 1280 px, each scanned by axe-core: the
price list, the landing page, invoices with Pay, Cancel and the PDF receipt, the purchase
page's running total and sticky bar, and the account page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.tests.factories import PASSWORD, UserFactory
from billing.models import Invoice
from billing.services import invoice_cancel
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from pages.tests.browsing import sign_in, snapshot
from tokens.services.alerts import alerts_get

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_sees_prices_and_is_invited_to_sign_up(page: Page, live_server, bundles):
    PlanFactory(name="Monthly", included_tokens=40)

    page.goto(live_server.url)

    expect(page.get_by_role("heading", level=1)).to_contain_text("Prepaid tokens")
    expect(page.locator("#price-list > li")).to_have_count(3)
    expect(page.get_by_text("Best value")).to_have_count(1)
    expect(page.locator("#plan-list")).to_contain_text("40 tokens included a month")
    snapshot(page, "prices")
    page.get_by_role("link", name="Sign up to buy").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    assert page.console.errors == []


def test_invoices_pay_cancel_and_download_the_receipt(page: Page, test_payments_site: str, bundles):
    site = test_payments_site
    user = UserFactory()
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid, reference="pay-browser-1")
    to_cancel = checkout(user, bundles=bundles[1:2]).invoice
    to_pay = checkout(user, bundles=bundles[:2]).invoice
    sign_in(page, site, user.email)
    expect(page.locator("#home-balance")).to_have_text("10")
    snapshot(page, "home")

    page.get_by_role("link", name="Invoices").first.click()
    expect(page.locator("table.invoices tbody tr")).to_have_count(3)
    snapshot(page, "invoices")
    page.get_by_label("Status").select_option("paid")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.invoices tbody tr")).to_have_count(1)
    page.get_by_role("link", name=paid.number).click()
    expect(page.locator("#invoice-status")).to_have_text("Paid")
    snapshot(page, "invoice-paid")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download receipt (PDF)").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    assert download.value.suggested_filename == f"receipt-{paid.number}.pdf"

    page.goto(f"{site}/invoices/{to_cancel.pk}")
    snapshot(page, "invoice-pending")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel invoice").click()
    expect(page.locator("#invoice-status")).to_have_text("Pending")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel invoice").click()
    expect(page.locator("#invoice-status")).to_have_text("Cancelled")
    expect(page.get_by_role("status")).to_contain_text("Nothing was charged")

    page.goto(f"{site}/invoices/{to_pay.pk}")
    page.get_by_role("button", name="Pay $55.00").click()
    expect(page.get_by_role("heading", name=f"Pay invoice {to_pay.number}")).to_be_visible()
    page.get_by_role("button", name="Pay $55.00").click()
    expect(page.locator("#tokens-credited")).to_have_text("60")
    statuses = dict(Invoice.objects.filter(user=user).values_list("number", "status"))
    assert statuses == {paid.number: "paid", to_cancel.number: "cancelled", to_pay.number: "paid"}
    assert page.console.errors == []


def test_a_waiting_receipt_says_so_when_its_checkout_is_cancelled(page: Page, live_server, bundles):
    """The poll stops once the invoice is settled, and a cancelled one counted as settled:
    the page said "Payment received: 0 tokens were added." when the checkout was cancelled
    while the customer was paying."""
    user = UserFactory()
    invoice = checkout(user, bundles=bundles[:1]).invoice
    sign_in(page, live_server.url, user.email)
    page.goto(f"{live_server.url}/purchase/success?invoice={invoice.pk}")
    state = page.locator("#payment-state")
    expect(state).to_contain_text("Waiting for the payment")

    invoice_cancel(invoice_id=invoice.pk, user_id=user.pk)

    expect(state).to_contain_text("This checkout was cancelled: no tokens were added")
    expect(state).not_to_contain_text("Payment received")
    expect(page.get_by_role("heading", level=1)).to_have_text("This purchase was cancelled")
    assert page.console.errors == []


def test_the_purchase_page_totals_as_you_choose_and_keeps_buy_in_reach(
    page: Page, test_payments_site: str, bundles
):
    site = test_payments_site
    plan = PlanFactory(name="Monthly", included_tokens=40)
    AddOnFactory(name="Priority support")
    user = UserFactory()
    sign_in(page, site, user.email)
    page.goto(f"{site}/purchase")
    total = page.locator("#total")
    add_on = page.get_by_label("Priority support")

    need_plan = page.get_by_text("Add-ons come with a plan: choose one above to add them.")
    with_plan = page.get_by_text("They come with the plan you chose.")

    expect(total).to_have_text("$0.00")
    expect(add_on).to_be_disabled()
    expect(need_plan).to_be_visible()
    expect(with_plan).to_be_hidden()
    bar = page.locator("#checkout-bar").bounding_box()
    assert bar["y"] + bar["height"] <= 812, "the total and Buy are not on the first screen"
    expect(page.get_by_role("button", name="Buy")).to_be_in_viewport()
    page.get_by_label("Taster").check()
    expect(total).to_have_text("$10.00")
    page.get_by_label("Starter").check()
    expect(total).to_have_text("$55.00")
    page.get_by_label("Monthly").check()
    expect(total).to_have_text("$84.00")
    expect(add_on).to_be_enabled()
    expect(need_plan).to_be_hidden()
    expect(with_plan).to_be_visible()
    add_on.check()
    expect(total).to_have_text("$93.00")
    expect(page.locator("#total-items")).to_have_text("for 4 items")
    snapshot(page, "purchase-plan")
    page.get_by_label("No plan").check()
    expect(add_on).to_be_disabled()
    expect(need_plan).to_be_visible()
    expect(total).to_have_text("$55.00")
    page.get_by_label("Monthly").check()
    page.get_by_label("Priority support").check()
    page.get_by_role("button", name="Buy").click()

    expect(page.locator("#amount")).to_have_text("93.00 USD")
    invoice = Invoice.objects.get(user=user)
    assert invoice.subscriptions.get().plan == plan
    assert page.console.errors == []


def test_with_no_payment_provider_the_purchase_page_says_so(
    page: Page, live_server, settings, bundles
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = False
    user = UserFactory()
    sign_in(page, live_server.url, user.email)

    page.goto(f"{live_server.url}/purchase")

    expect(page.locator("#payments-unavailable")).to_contain_text("Buying is paused")
    expect(page.get_by_role("button", name="Buy")).to_be_disabled()
    snapshot(page, "purchase-unavailable")
    assert not Invoice.objects.exists()


def test_the_account_page_sets_the_warning_and_changes_the_password(
    page: Page, live_server, bundles
):
    user = UserFactory()
    capture(checkout(user, plan=PlanFactory(name="Monthly", included_tokens=40)).invoice)
    sign_in(page, live_server.url, user.email)

    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.locator("#account-email")).to_have_text(user.email)
    expect(page.locator("#account-plan")).to_contain_text("Monthly (monthly)")
    expect(page.locator("#tokens-by-category")).to_contain_text("40 tokens in all")
    snapshot(page, "account")
    page.get_by_label("When my balance falls below a number I choose").check()
    page.get_by_label("Below how many tokens").fill("25")
    page.get_by_role("button", name="Save warning").click()
    expect(page.get_by_role("status")).to_contain_text("falls below 25")
    assert alerts_get(user_id=user.pk) == 25

    page.get_by_label("Old password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill("a-new-long-passphrase-2026")
    page.get_by_label("New password confirmation").fill("a-new-long-passphrase-2026")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your old password was entered incorrectly")).to_be_visible()
    snapshot(page, "account-refused")
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-new-long-passphrase-2026")
    page.get_by_label("New password confirmation").fill("a-new-long-passphrase-2026")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
    user.refresh_from_db()
    assert user.check_password("a-new-long-passphrase-2026")
    refused = "the server responded with a status of 400 (Bad Request)"
    assert [error for error in page.console.errors if refused not in error] == []


def test_usage_and_transactions_keep_their_labels_on_a_phone(page: Page, live_server):
    from tokens.ledger import Work
    from tokens.services import usage_record
    from tokens.tests.factories import fund

    user = UserFactory()
    fund(user, 20)
    usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    sign_in(page, live_server.url, user.email)

    page.goto(f"{live_server.url}/transactions")
    label = page.locator("table.ledger tbody tr").first.locator("td").nth(2)
    content = label.evaluate("(cell) => getComputedStyle(cell, '::before').content")
    assert content == '"Amount"'
    snapshot(page, "transactions-phone")
    page.goto(f"{live_server.url}/usage")
    snapshot(page, "usage")
    assert page.console.errors == []


def test_tabbing_through_the_choices_on_a_phone_keeps_each_in_sight_above_the_bar(
    page: Page, test_payments_site: str, bundles
):
    """The total and Buy stay on a bar stuck to the bottom of the screen; a choice reached
    with Tab is scrolled just into view, and ended up under the bar, out of sight (WCAG
    2.4.11, focus not obscured)."""
    for number in range(6):
        TokenBundleFactory(name=f"Bundle {number}", token_amount=10 * (number + 1), sort_order=5)
    sign_in(page, test_payments_site, UserFactory().email)
    page.goto(f"{test_payments_site}/purchase")
    page.locator("input[name=bundles]").first.focus()

    hidden = []
    for _ in range(20):
        page.keyboard.press("Tab")
        name = page.evaluate("() => document.activeElement.id")
        if name == "buy":
            break
        box = page.evaluate("() => document.activeElement.getBoundingClientRect().bottom")
        bar = page.locator("#checkout-bar").bounding_box()["y"]
        if box > bar:
            hidden.append(name)

    assert hidden == []
