"""The customer's pages under odd use: dates at the edge of the calendar, a signed-in user
sent to sign in, a purchase page sent again with other choices or after a cancel, and
private pages that no cache keeps."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD
from common.tests.helpers import database_state
from tokens import services as token_services
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db


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


@pytest.mark.parametrize("invoice", ["abc", "5b0c4a3e-2f1d-4c6b-9a8e-7d6f5e4c3b2a"])
def test_the_purchase_status_poll_answers_json_for_no_such_purchase(browser, invoice):
    response = browser.get(reverse("pages:purchase-status"), {"invoice": invoice})

    assert response.status_code == 404
    assert response.json() == {"error": "No such purchase.", "code": "not_found"}
