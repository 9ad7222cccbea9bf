"""The header's balance widget in Debian's Chromium, as its poll redraws it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateformat import format as date_format
from playwright.sync_api import Browser, expect

from accounts.tests.factories import UserFactory
from pages.tests.browsing import sign_in
from tokens.ledger import Work
from tokens.services import hold_create, usage_record
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_MS = 10_000


def test_the_polled_expiry_date_reads_as_the_page_wrote_it(chromium: Browser, live_server):
    """The page writes "12 Dec 2026, 12:05 UTC" and the poll redrew it in the browser's
    locale: in an American one "Dec 12, 2026", ten seconds after the page was drawn."""
    user = UserFactory()
    expires_at = datetime.now(UTC).replace(hour=12, minute=5) + timedelta(days=5)
    grant(user, 7, expires_at=expires_at)
    context = chromium.new_context(locale="en-US", timezone_id="America/Los_Angeles")
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    written = f"; 7 expire {date_format(expires_at, 'j M Y, H:i')} UTC"
    expect(page.locator("#expiring")).to_have_text(written)

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    expect(page.locator("#expiring")).to_have_text(written)
    context.close()


def test_a_tab_signed_out_elsewhere_stops_polling(chromium: Browser, live_server):
    """Signed out (in another tab, or the session ended), every answer is the same 401: the
    header's poll asked again every ten seconds for as long as the tab stayed open."""
    user = UserFactory()
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    polls = []
    # The page's script and this test fetch; the browser's own requests (a favicon it asks for
    # late) are not polls.
    page.on(
        "request",
        lambda request: polls.append(request.url) if request.resource_type == "fetch" else None,
    )
    context.clear_cookies()

    for _ in range(4):
        page.clock.run_for(POLL_MS)
        # A request of the test's own, answered after any poll the page sent before it.
        page.evaluate("() => fetch('/no-such-page')")

    assert [url.rsplit("/", 1)[1] for url in polls] == ["balance"] + ["no-such-page"] * 4
    context.close()


def test_the_home_page_figures_follow_the_header_after_a_purchase(chromium: Browser, live_server):
    """Tokens credited while the home page was open (a payment confirmed, a grant): the
    header's poll said the new balance and the Balance and Available now beside it stayed
    at the old one."""
    user = UserFactory()
    fund(user, 50)
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    expect(page.locator("#home-balance")).to_have_text("50")
    fund(user, 1000)

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    expect(page.locator("#balance")).to_have_text("1050")
    expect(page.locator("#home-balance")).to_have_text("1050")
    expect(page.locator("#home-available")).to_have_text("1050")
    expect(page.locator("#home-available-unit")).to_have_text("tokens")
    context.close()


def test_a_hold_placed_while_the_home_page_is_open_is_said_as_the_page_says_it(
    chromium: Browser, live_server
):
    user = UserFactory()
    fund(user, 10)
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    expect(page.locator("#home-available-unit")).to_have_text("tokens")
    hold_create(user_id=user.pk, amount=8, idempotency_key="job")

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    expect(page.locator("#home-balance")).to_have_text("10")
    expect(page.locator("#home-available")).to_have_text("2")
    expect(page.locator("#home-available-unit")).to_have_text("8 held for work in progress")
    context.close()


def test_the_home_page_expiry_notice_follows_the_header(chromium: Browser, live_server):
    """Tokens that expire soon used up in another tab, or a new lot that expires sooner
    granted: the header's poll redrew Balance, Available now and its own "expire" but the
    notice below them still said the old "N tokens expire on …" (or none at all)."""
    user = UserFactory()
    soon = datetime.now(UTC).replace(hour=9, minute=30, second=0, microsecond=0)
    grant(user, 7, expires_at=soon + timedelta(days=5))
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    notice = page.locator("#expiring-soon")
    expect(notice).to_contain_text("7 tokens expire on")
    grant(user, 3, expires_at=soon + timedelta(days=2))

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    sooner = date_format(soon + timedelta(days=2), "j M Y, H:i")
    expect(notice).to_have_text(f"3 tokens expire on {sooner} UTC: they are used first.")
    usage_record(user_id=user.pk, work=Work(amount=10, feature="chat", usage_key="all"))

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    expect(page.locator("#home-balance")).to_have_text("0")
    expect(notice).to_be_hidden()
    context.close()


def test_the_expiry_notice_appears_when_tokens_that_expire_arrive(chromium: Browser, live_server):
    user = UserFactory()
    fund(user, 5)
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    expect(page.locator("#expiring-soon")).to_be_hidden()
    expires_at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)
    grant(user, 4, expires_at=expires_at)

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)

    expect(page.locator("#expiring-soon")).to_have_text(
        f"4 tokens expire on {date_format(expires_at, 'j M Y, H:i')} UTC: they are used first."
    )
    context.close()


# The header's changes, and the home page's figures, which each poll draws: the sign that the
# poll's answer has been drawn.
WATCH_WIDGET = """() => {
    window.widgetChanges = 0;
    window.pollsDrawn = 0;
    const watched = {subtree: true, childList: true, characterData: true};
    new MutationObserver((records) => { window.widgetChanges += records.length; })
        .observe(document.querySelector(".balance-widget"), watched);
    new MutationObserver(() => { window.pollsDrawn += 1; })
        .observe(document.getElementById("home-balance"), watched);
}"""


def test_the_header_announces_the_balance_only_when_it_changes(chromium: Browser, live_server):
    """The widget is a polite live region, and each poll wrote it anew (the same balance, the
    same expiry): a screen reader read "50; 7 expire 12 Dec 2026…" out every ten seconds
    for as long as the tab stayed open."""
    user = UserFactory()
    fund(user, 50)
    grant(user, 7, expires_at=datetime.now(UTC) + timedelta(days=5))
    context = chromium.new_context()
    page = context.new_page()
    page.clock.install()
    sign_in(page, live_server.url, user.email)
    page.evaluate(WATCH_WIDGET)

    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)
    page.wait_for_function("() => window.pollsDrawn > 0")

    assert page.evaluate("() => window.widgetChanges") == 0
    fund(user, 5)
    with page.expect_response(lambda response: response.url.endswith("/account/balance")):
        page.clock.run_for(POLL_MS)
    expect(page.locator("#balance")).to_have_text("62")
    assert page.evaluate("() => window.widgetChanges") > 0
    context.close()
