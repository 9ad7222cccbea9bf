"""Helpers of the browser tests: Debian's Chromium driven by Playwright, checks every page must
pass at 375 and 1280 px (labels, no sideways scrolling, axe-core), screenshots and sign-in."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from accounts.tests.factories import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
MOBILE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
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
BLOCKING = {"serious", "critical"}


class Console:
    """Everything the pages log as an error, and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on(
            "console", lambda message: message.type == "error" and self.errors.append(message.text)
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))


def accessibility_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated by the driver, as the test's own code: a <script> added to the page
        # (add_script_tag) is inline, and the pages' Content-Security-Policy refuses it.
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => (await window.axe.run(document, {resultTypes: ["violations"]}))
            .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))"""
    )
    return [violation for violation in found if violation["impact"] in BLOCKING]


def snapshot(page: Page, name: str) -> None:
    """At 375 and 1280 px: a screenshot, every form control labelled, nothing wider than the
    screen, and no serious or critical accessibility violation. Leaves the page at 375 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in (DESKTOP, MOBILE):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size['width']}.png"), full_page=True)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll("input, select, textarea")]
                .filter((el) => !["hidden", "submit", "button"].includes(el.type))
                .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
                .map((el) => el.name || el.id)"""
        )
        assert unlabelled == [], f"{name}: form controls without a label: {unlabelled}"
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name}: {width}px wide at {size['width']}px"
        violations = accessibility_violations(page)
        assert violations == [], f"{name} at {size['width']}px: {violations}"


def sign_in(page: Page, site: str, email: str) -> None:
    """Signs in through the form; users land on their balance and recent activity."""
    page.goto(f"{site}/sign-in")
    snapshot(page, "sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site}/")
