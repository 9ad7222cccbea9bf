from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from catalog.tests.factories import TokenBundleFactory
from pages.tests.browsing import CHROMIUM, CHROMIUM_ARGS, MOBILE, Console


@pytest.fixture
def bundles():
    """The demo's cheapest, a saving one and the best value, in that listing order."""
    return [
        TokenBundleFactory(name="Taster", token_amount=10, price=Decimal("10.00"), sort_order=0),
        TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.00"), sort_order=1),
        TokenBundleFactory(name="Team", token_amount=1000, price=Decimal("5.00"), sort_order=2),
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


@pytest.fixture
def test_payments_site(live_server, settings):
    """The live server as `make run` serves it: no Stripe, test payments on."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    return live_server.url


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport=MOBILE, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console = Console(page)
    yield page
    context.close()


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client
