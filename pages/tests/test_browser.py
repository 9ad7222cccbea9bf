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
from playwright.sync_api import Page, expect, sync_playwright

from accounts.tests.factories import PASSWORD, UserFactory
from billing.models import Invoice

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
MOBILE = {"width": 375, "height": 812}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium():
    """Playwright's sync API keeps an event loop in this thread while it runs; the tests' own
    ORM calls stay synchronous, so Django is told they may run beside it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this).")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def site(live_server, settings, fake_stripe):
    """The live server, with Stripe's success and cancel URLs pointing back at it."""
    settings.SITE_URL = live_server.url
    fake_stripe.app_url = live_server.url
    return live_server.url


class Console:
    """Everything the pages log as an error, and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on(
            "console", lambda message: message.type == "error" and self.errors.append(message.text)
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport=MOBILE, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console = Console(page)
    yield page
    context.close()


def snapshot(page: Page, name: str) -> None:
    """Saves a screenshot and checks what every page must hold at 375 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter((el) => !["hidden", "submit", "button"].includes(el.type))
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
            .map((el) => el.name || el.id)"""
    )
    assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name}: {width}px wide at 375px"


def test_sign_up_buy_two_bundles_pay_and_see_the_tokens(page: Page, site: str, bundles):
    page.goto(f"{site}/sign-up")
    snapshot(page, "sign-up")
    page.get_by_label("Email").fill("buyer@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(f"{site}/purchase")
    expect(page.locator("#balance")).to_have_text("0")
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


@pytest.fixture
def test_payments_site(live_server, settings):
    """The live server as `make run` serves it: no Stripe, test payments on."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    return live_server.url


def test_buying_through_the_test_payment_page_decline_then_pay(
    page: Page, test_payments_site: str, bundles
):
    site = test_payments_site
    user = UserFactory(email="demo@example.com")
    sign_in(page, site, user.email)
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("note")).to_contain_text("Test payment.")
    expect(page.get_by_role("note")).to_contain_text("no money moves")
    expect(page.locator("#amount")).to_have_text("10.00 USD")
    page.get_by_role("button", name="Decline").click()

    expect(page.locator("#nothing-charged")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("0")
    page.get_by_role("link", name="Try again").click()
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


def sign_in(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/sign-in")
    snapshot(page, "sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site}/purchase")


def test_cancelling_the_payment_charges_nothing(page: Page, site: str, bundles):
    user = UserFactory(email="undecided@example.com")
    sign_in(page, site, user.email)
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#nothing-charged")).to_have_text(
        "Nothing was charged. Your balance is unchanged."
    )
    expect(page.locator("#balance")).to_have_text("0")
    snapshot(page, "purchase-cancel")
    page.get_by_role("link", name="Try again").click()
    expect(page).to_have_url(f"{site}/purchase")
    assert page.console.errors == []


def test_buying_nothing_says_so(page: Page, site: str, bundles):
    user = UserFactory(email="empty@example.com")
    sign_in(page, site, user.email)

    page.get_by_role("button", name="Buy").click()

    expect(page.get_by_role("alert")).to_have_text("Choose at least one bundle.")
    snapshot(page, "purchase-empty")


def test_staff_see_the_billing_overview_chart(chromium, site: str, bundles):
    from billing.tests.helpers import capture, checkout

    buyer = UserFactory()
    capture(checkout(buyer, bundles=bundles[2:]).invoice)
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
                              revenue: chart.data.datasets[0].data.at(-1) };
        }"""
    ).json_value()
    assert drawn == {"labels": 30, "sets": 2, "revenue": 5}
    page.screenshot(path=str(SCREENSHOTS / "admin-billing-overview.png"), full_page=True)
    assert console.errors == []
    context.close()
