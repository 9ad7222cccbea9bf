"""The pages and the admin send a Content-Security-Policy that lets nothing injected run
(scripts and styles from this server's files only), and every page works under it in Debian's
Chromium; the API's JSON goes without one."""

from __future__ import annotations

import contextlib

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from accounts.tests.factories import PASSWORD, UserFactory
from billing.tests.helpers import capture, checkout
from tokens.ledger import Work

POLICY = "Content-Security-Policy"
EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'", "https://checkout.stripe.com"],
}


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in filter(str.strip, header.split(";")):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
def test_pages_and_the_admin_send_the_policy(client, user):
    anonymous = [client.get(reverse("pages:sign-in")), client.get("/admin/login/")]
    client.force_login(user)
    customer = [client.get(reverse(name)) for name in ("pages:home", "pages:purchase")]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    staff = [client.get("/admin/"), client.get("/admin/billing/invoice/")]

    answers = anonymous + customer + staff
    assert [answer.status_code for answer in answers] == [200] * 6
    assert [directives(answer.get(POLICY, "")) for answer in answers] == [EXPECTED] * 6


@pytest.mark.django_db
def test_the_error_pages_send_it_too():
    """The CSRF failure page is drawn inside the middleware's layer, the 404 page too."""
    browser = Client(enforce_csrf_checks=True)
    answers = [browser.post(reverse("pages:sign-in"), {}), browser.get("/no-such-page")]

    assert [answer.status_code for answer in answers] == [403, 404]
    assert [directives(answer.get(POLICY, "")) for answer in answers] == [EXPECTED] * 2


@pytest.mark.django_db
def test_the_api_and_answers_that_are_not_html_go_without(client, api_client, user, settings):
    """A browser never renders them: a header there would be bytes and middleware time on the
    API's hot paths (docs/decisions.md, Speed)."""
    client.force_login(user)
    answers = [
        api_client.get("/api/v1/token-bundles"),
        api_client.get("/api/v1/no-such-route"),
        client.get(reverse("pages:balance")),
    ]

    assert [(answer.status_code, answer.get(POLICY)) for answer in answers] == [
        (200, None),
        (404, None),
        (200, None),
    ]


@pytest.mark.django_db
def test_form_action_allows_the_configured_checkout_origin(client, settings):
    settings.STRIPE_CHECKOUT_ORIGIN = "https://pay.example.com"

    header = client.get(reverse("pages:sign-in")).get(POLICY, "")

    assert directives(header)["form-action"] == ["'self'", "https://pay.example.com"]


VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.cspViolation(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def strict_page(chromium: Browser, violations: list[str], errors: list[str]) -> Page:
    """A page that records every CSP violation (the event, in each document, before any of
    its scripts) and every console error or uncaught exception. Not bypass_csp."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.expose_function("cspViolation", lambda text: violations.append(text))
    context.add_init_script(VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def sign_in(page, site: str, email: str) -> None:
    page.goto(f"{site}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_works_under_the_policy(chromium, test_payments_site: str, bundles):
    from tokens.services import usage_record
    from tokens.tests.factories import fund

    site = test_payments_site
    customer = UserFactory(email="strict@example.com")
    fund(customer, 20)
    usage_record(user_id=customer.pk, work=Work(amount=3, feature="design", usage_key="a"))
    capture(checkout(customer, bundles=bundles[2:]).invoice)
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    violations: list[str] = []
    errors: list[str] = []
    page = strict_page(chromium, violations, errors)

    sign_in(page, site, customer.email)
    page.goto(f"{site}/purchase")
    page.get_by_label("Starter").check()
    expect(page.locator("#total")).to_have_text("$45.00")
    page.get_by_role("button", name="Buy").click()
    expect(page.get_by_role("heading", name="Pay invoice")).to_be_visible()
    page.get_by_role("button", name="Pay $45.00").click()
    expect(page.locator("#tokens-credited")).to_have_text("50")
    for path in ("/invoices", "/usage", "/transactions", "/account"):
        page.goto(f"{site}{path}")
        expect(page.locator("h1")).to_be_visible()

    page.goto(f"{site}/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{site}/admin/billing/invoice/")
    page.get_by_role("checkbox", name="Select all objects on this page").check()
    expect(page.locator(".action-counter")).to_contain_text("2 of 2 selected")
    page.goto(f"{site}/admin/overview/")
    page.wait_for_function("() => window.Chart && window.Chart.getChart('revenue-chart')")
    height = page.locator(".chart-box").bounding_box()["height"]
    page.context.close()

    assert (violations, errors) == ([], [])
    assert height == 18 * 16, "billing_overview.css did not apply"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_buy_still_reaches_stripe_checkout(chromium, site: str, fake_stripe, bundles):
    """Buy posts here and is redirected to Checkout with a 303; Chromium holds the redirect to
    the purchase page's form-action, which must name Checkout's origin (STRIPE_CHECKOUT_ORIGIN,
    the fake's address in the tests)."""
    customer = UserFactory()
    violations: list[str] = []
    errors: list[str] = []
    page = strict_page(chromium, violations, errors)

    sign_in(page, site, customer.email)
    page.goto(f"{site}/purchase")
    page.get_by_label("Taster").check()
    page.get_by_role("button", name="Buy").click()
    with contextlib.suppress(PlaywrightTimeoutError):  # the violation below says why
        page.get_by_role("heading", name="Fake Stripe Checkout").wait_for(timeout=5_000)
    reached = page.url
    page.context.close()

    assert (violations, errors) == ([], [])
    assert reached.startswith(f"{fake_stripe.base}/")


DOCS_EXPECTED = {**EXPECTED, "img-src": ["'self'", "data:"], "form-action": ["'self'"]}


@pytest.mark.django_db
def test_the_api_docs_page_sends_a_strict_policy_and_its_script_is_a_file(client):
    """Swagger UI's page (under /api/, which the middleware passes by) sends a policy of its
    own, the pages' one with `data:` images (swagger-ui.css draws its icons so); its start-up
    script is a file from this server, not inline."""
    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert directives(page.get(POLICY, "")) == DOCS_EXPECTED
    assert "<script>" not in page.content.decode()
    assert "<style>" not in page.content.decode()
    assert (script.status_code, script["Content-Type"]) == (200, "application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_work_under_their_policy(chromium, live_server):
    violations: list[str] = []
    errors: list[str] = []
    page = strict_page(chromium, violations, errors)

    answer = page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Token billing API")
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    header = answer.headers.get(POLICY.lower(), "")
    page.context.close()

    assert directives(header) == DOCS_EXPECTED
    assert (violations, errors) == ([], [])
