"""The customer's pages under odd use: dates at the edge of the calendar, a signed-in user
sent to sign in, a purchase page sent again with other choices or after a cancel, and
private pages that no cache keeps."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from billing import services as billing
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory
from common.tests.helpers import database_state
from tokens import services as token_services
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    """Signed in; a view that raises answers its 500 page instead of failing the test."""
    client.force_login(user)
    client.raise_request_exception = False
    return client


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True


def buy(client, bundles, submission):
    return client.post(
        reverse("pages:purchase"),
        {"bundles": [str(b.pk) for b in bundles], "submission": str(submission)},
    )


# Odd input: a date the form accepts must not crash the view.


@pytest.mark.parametrize("export", [{}, {"format": "csv"}])
def test_the_last_representable_day_as_date_to_is_not_a_500(browser, user, export):
    """`date_to=9999-12-31` passes the form's DateField, then history_filters() adds a day to
    its midnight: OverflowError, a 500 (pages/forms.py, HistoryFilterForm.history_filters)."""
    fund(user, 5)

    response = browser.get(reverse("pages:transactions"), {"date_to": "9999-12-31", **export})

    assert response.status_code in (200, 400)
    if response.status_code == 200 and not export:
        assert response.context["page"].paginator.count == 1


def test_a_signed_in_user_sent_back_to_sign_in_is_not_a_500(browser):
    """SignInView has redirect_authenticated_user: a signed-in user following a link to
    `/sign-in?next=/sign-in` (an expired tab, a bookmark) makes Django's LoginView raise
    "Redirection loop for authenticated user detected" (ValueError): a 500."""
    response = browser.get(reverse("pages:sign-in"), {"next": reverse("pages:sign-in")})

    assert response.status_code in (200, 302)


def _hidden_inputs_of_the_filters(page: str) -> dict[str, str]:
    """What the filter form sends besides the fields a person fills in."""
    form = re.search(r'<form method="get" class="filters">(.*?)</form>', page, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_filtering_from_a_later_page_starts_at_the_first(browser, user):
    """The filter form drew the page it was on as a hidden field: filtering from page 2 for
    the one usage entry asked for page 2 of a one-row list, and the customer got a 404."""
    for _ in range(51):
        fund(user, 1)
    token_services.tokens_debit(user_id=user.pk, amount=1, description="the only job")
    second = browser.get(reverse("pages:transactions"), {"page": 2}).content.decode()

    filtered = browser.get(
        reverse("pages:transactions"), {**_hidden_inputs_of_the_filters(second), "type": "usage"}
    )

    assert filtered.status_code == 200
    assert [entry.description for entry in filtered.context["page"].object_list] == ["the only job"]


@pytest.mark.parametrize(
    ("path", "page", "message"),
    [
        ("pages:invoices", "0", "Ensure this value is greater than or equal to 1."),
        ("pages:transactions", "abc", "Enter a whole number."),
    ],
)
def test_a_bad_page_number_says_what_is_wrong(browser, path, page, message):
    """`page` is a hidden field of the filter form, and the form's template showed the
    errors of visible fields only: a link with page=0 was a 400 with the filters, no list
    and nothing saying why."""
    response = browser.get(reverse(path), {"page": page})

    assert response.status_code == 400
    assert f'<p class="error" role="alert">Page: {message}</p>' in response.content.decode()


# A charset other than UTF-8: Python's UTF-7 codec decodes "+2AA-" to a lone surrogate.

UTF7 = "text/plain; charset=utf-7"
BOUNDARY = "pages-test-boundary"


def multipart(charset: str, **fields: str) -> tuple[bytes, str]:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}; charset={charset}"


@pytest.mark.parametrize(
    ("path", "query"),
    [("pages:invoices", "status=%2B2AA-"), ("pages:transactions", "type=%2B2AA-")],
)
def test_a_query_string_in_another_charset_is_400_not_500(browser, path, query):
    """The query string is decoded with the charset a request's Content-Type declares; UTF-7
    made a lone surrogate of "+2AA-", the filter form showed it back, and encoding the page
    failed: 500."""
    response = browser.get(f"{reverse(path)}?{query}", CONTENT_TYPE=UTF7)

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("pages:sign-in", {"username": "+2AA-a@example.com", "password": "wrong"}),
        ("pages:sign-in", {"username": "a@example.com", "password": "+2AA-"}),
        ("pages:sign-up", {"email": "new@example.com", "password": "+2AA-" + PASSWORD}),
    ],
)
def test_a_form_in_another_charset_is_400_and_changes_nothing(client, path, fields):
    """Django refuses an urlencoded form that is not UTF-8, but decoded a multipart one with
    its declared charset: the sign-in throttle's digest, the password hasher and the page
    could not encode the surrogate, and signing in or up answered 500."""
    client.raise_request_exception = False
    before = database_state()
    body, content_type = multipart("utf-7", **fields)

    response = client.generic("POST", reverse(path), body, content_type=content_type)

    assert response.status_code == 400
    assert database_state() == before


def test_a_form_that_declares_utf8_still_signs_up(client):
    body, content_type = multipart("UTF-8", email="new@example.com", password=PASSWORD)

    response = client.generic("POST", reverse("pages:sign-up"), body, content_type=content_type)

    assert response.status_code == 302


# The purchase page's one-time `submission`.


def test_a_changed_selection_sent_with_the_same_submission_is_not_paid_as_the_first(
    browser, user, bundles, test_mode
):
    """The purchase page keeps its `submission` when it comes back from the browser's
    back/forward cache (site.js recomputes the total on `pageshow`) and when it is shown again
    after a refusal. Buying other bundles with it reaches checkout_create with the same
    idempotency key, which answers the FIRST checkout: the customer is sent to pay the
    bundles they chose before, not the ones on the screen, and nothing says so."""
    submission = uuid.uuid4()
    first = buy(browser, bundles[:1], submission)
    first_invoice = Invoice.objects.get(user=user)
    assert first["Location"] == f"/test-checkout/{first_invoice.pk}"

    changed = buy(browser, bundles[1:3], submission)

    # Either the bundles on the screen are checked out and paid, or the customer is told the
    # page is out of date; never sent to pay the first choice.
    if changed.status_code == 302:
        assert changed["Location"] != f"/test-checkout/{first_invoice.pk}"
        bought = {
            purchase.bundle_id
            for invoice in Invoice.objects.filter(user=user, status="pending")
            for purchase in invoice.token_purchases.all()
        }
        assert {bundles[1].pk, bundles[2].pk} <= bought
    else:
        assert 400 <= changed.status_code < 500


def test_choosing_again_after_a_cancelled_purchase_can_buy(browser, user, bundles, test_mode):
    """When the submission's invoice was cancelled the page says "That purchase was cancelled;
    choose your bundles again." but renders the form with the same `submission` (a bound
    form shows the posted value, not the fresh initial one), so choosing again and pressing
    Buy answers the same refusal, for ever, until the customer reloads the page."""
    submission = uuid.uuid4()
    buy(browser, bundles[:1], submission)
    billing.invoice_cancel(invoice_id=Invoice.objects.get(user=user).pk, user_id=user.pk)

    refused = buy(browser, bundles[:1], submission)
    page = refused.content.decode()
    assert "That purchase was cancelled; choose your bundles again." in page
    shown = re.search(r'name="submission" value="([^"]+)"', page).group(1)

    again = buy(browser, bundles[:1], shown)

    assert again.status_code == 302
    assert Invoice.objects.filter(user=user, status="pending").count() == 1


# The receipt after paying says what the payment added.


def test_the_receipt_counts_the_tokens_a_plan_includes(browser, user, bundles):
    """A plan's included tokens are credited when its invoice is paid, but the receipt
    counted bundle purchases only: buying a plan with 40 tokens a month (and a bundle of 10)
    said "10 tokens were added. Your balance is 50 tokens."."""
    plan = PlanFactory(included_tokens=40)
    invoice = checkout(user, plan=plan, bundles=bundles[:1]).invoice
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    polled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    assert '<strong id="tokens-credited">50</strong>' in page
    assert '<strong id="new-balance">50</strong>' in page
    assert polled == {
        "status": "paid",
        "settled": True,
        "tokens_credited": 50,
        "balance": 50,
        "plan_name": None,
        "plan_starts_at": None,
    }


def test_the_receipt_of_a_cancelled_checkout_says_it_was_cancelled(browser, user, bundles):
    """A checkout cancelled while the customer was paying (an add-on checkout its plan's
    refund cancels, a Cancel in another tab) counted as settled: the receipt said "Payment
    received: 0 tokens were added." The poll's answer stays as it was; the page tells the
    truth."""
    invoice = checkout(user, bundles=bundles[:1]).invoice
    billing.invoice_cancel(invoice_id=invoice.pk, user_id=user.pk)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    polled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    state = re.search(r'<p id="payment-state"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "Payment received" not in page
    assert "Thank you for your purchase" not in page
    assert " ".join(state.split()) == (
        "This checkout was cancelled: no tokens were added and it can no longer be paid. "
        "If you were charged for it, the payment is not kept: it is reviewed to be refunded."
    )
    assert polled == {
        "status": "cancelled",
        "settled": True,
        "tokens_credited": 0,
        "balance": 0,
        "plan_name": None,
        "plan_starts_at": None,
    }


def test_the_account_forms_submit_once(client, user):
    """Sign up, sign in and the password change had no `data-once` (site.js disables the
    button once the form is on its way): a double click sent the form twice and the browser
    showed the second answer, "A user with this email address already exists." for the
    user the first had just made, or a password change refused by the password it set."""
    pages = [client.get(reverse("pages:sign-up")), client.get(reverse("pages:sign-in"))]
    client.force_login(user)
    pages.append(client.get(reverse("pages:account")))

    forms = [
        form
        for response in pages
        for form in re.findall(r"<form [^>]*>", response.content.decode())
        if 'method="post"' in form and "sign-out" not in form and "alerts" not in form
    ]

    assert len(forms) == 3
    assert [form for form in forms if "data-once" not in form] == []


# Private pages must not be kept by caches.


def _private(response) -> bool:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return bool(directives & {"private", "no-store"})


def test_private_pages_tell_caches_not_to_keep_them(browser, user, bundles):
    """No page but sign-in (LoginView's never_cache) sends Cache-Control: a receipt PDF, an
    invoice, the CSV export of the ledger and the balance poll may be kept by the browser's
    history cache after sign-out on a shared computer, or by a proxy that caches
    heuristically. They vary on Cookie only."""
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)
    before = database_state()

    responses = {
        "receipt": browser.get(reverse("pages:receipt", args=[invoice.pk])),
        "invoice": browser.get(reverse("pages:invoice", args=[invoice.pk])),
        "csv": browser.get(reverse("pages:transactions"), {"format": "csv"}),
        "invoices": browser.get(reverse("pages:invoices")),
        "balance": browser.get(reverse("pages:balance")),
    }

    assert {name: response.status_code for name, response in responses.items()} == dict.fromkeys(
        responses, 200
    )
    assert [name for name, response in responses.items() if not _private(response)] == []
    assert database_state() == before


@pytest.mark.parametrize("name", ["pages:sign-up", "pages:sign-in", "admin:login"])
def test_a_signed_out_form_is_kept_by_no_cache(client, name):
    """The sign-up page carries a CSRF token, bound to the visitor's cookie, and had no
    Cache-Control (Django's own sign-in view is never_cache): kept by a cache, it is shown
    with a token that another visitor's cookie, or this one's after signing in, refuses with
    "nothing was done"."""
    response = client.get(reverse(name))

    assert response.status_code == 200
    assert "csrfmiddlewaretoken" in response.content.decode()
    assert _private(response)
    assert "no-store" in response["Cache-Control"]


def test_pages_answer_head_as_get_without_a_body(browser):
    """Uptime monitors and link checkers ask with HEAD; the pages answered 405."""
    answers = [browser.head(reverse(name)) for name in ("pages:home", "pages:invoices")]

    assert [(answer.status_code, answer.content) for answer in answers] == [(200, b"")] * 2


@pytest.mark.parametrize("invoice", ["abc", "5b0c4a3e-2f1d-4c6b-9a8e-7d6f5e4c3b2a"])
def test_the_purchase_status_poll_answers_json_for_no_such_purchase(browser, invoice):
    response = browser.get(reverse("pages:purchase-status"), {"invoice": invoice})

    assert response.status_code == 404
    assert response.json() == {"error": "No such purchase.", "code": "not_found"}
