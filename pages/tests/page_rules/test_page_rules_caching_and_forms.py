"""The customer's pages under odd use: dates at the edge of the calendar, a signed-in user
sent to sign in, a purchase page sent again with other choices or after a cancel, and
private pages that no cache keeps."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


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
