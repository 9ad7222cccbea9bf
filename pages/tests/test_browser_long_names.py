"""A name staff typed with a word longer than a phone is wide, in Debian's Chromium at 375 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from pages.tests.browsing import MOBILE, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A product code, a URL, a compound: nothing a line may break at for 60 characters.
LONG_WORD = "Enterprise-" + "x" * 49


def test_a_long_bundle_name_does_not_widen_the_pages_past_a_phone(page: Page, live_server):
    """A bundle named with a word of 60 letters made the price list 600 px wide at 375 px,
    and the purchase page, the home page's activity, the invoice and the receipt too: the
    customer scrolled sideways to find the price and the Buy button."""
    site = live_server.url
    bundle = TokenBundleFactory(
        name=f"{LONG_WORD} tokens for the whole organisation", description=LONG_WORD
    )
    PlanFactory(name=f"{LONG_WORD} plan")
    user = UserFactory()
    invoice = checkout(user, bundles=[bundle]).invoice
    capture(invoice, reference="pay-long")
    page.set_viewport_size(MOBILE)
    page.goto(site)
    widths = {"prices": page.evaluate("() => document.documentElement.scrollWidth")}
    sign_in(page, site, user.email)

    for name, path in [
        ("home", "/"),
        ("purchase", "/purchase"),
        ("invoice", f"/invoices/{invoice.pk}"),
        ("receipt", f"/purchase/success?invoice={invoice.pk}"),
        ("transactions", "/transactions"),
    ]:
        page.goto(f"{site}{path}")
        widths[name] = page.evaluate("() => document.documentElement.scrollWidth")

    assert {name: width for name, width in widths.items() if width > MOBILE["width"]} == {}
