"""A refused form says what is wrong on the field itself: a screen reader reaching the field
reads its error (aria-describedby names an element that holds it), and the words are ones a
customer understands."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Described(HTMLParser):
    """The text inside each element with an id, and the ids each element's
    aria-describedby names."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.described: list[tuple[str, list[str]]] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("aria-describedby"):
            name = found.get("name") or found.get("id") or tag
            self.described.append((name, found["aria-describedby"].split()))
        if tag in VOID:
            return
        if found.get("id"):
            self.text.setdefault(found["id"], "")
        self._open.append(found.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in filter(None, self._open):
            self.text[element_id] += data


def described(page: str) -> dict[str, str]:
    """What a screen reader reads after each described element: {name: text}. Fails when
    aria-describedby names an element the page lacks."""
    parser = _Described()
    parser.feed(page)
    missing = [
        (name, ref) for name, refs in parser.described for ref in refs if ref not in parser.text
    ]
    assert missing == [], f"aria-describedby names elements the page lacks: {missing}"
    return {name: " ".join(parser.text[ref] for ref in refs) for name, refs in parser.described}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_sign_up_errors_are_read_with_their_field(client):
    response = client.post(reverse("pages:sign-up"), {"email": "not-an-email", "password": "x"})

    assert "Enter a valid email address." in described(response.content.decode())["email"]


def test_password_errors_are_read_with_their_field(browser):
    response = browser.post(
        reverse("pages:account-password"),
        {"old_password": "wrong", "new_password1": "a", "new_password2": "b"},
    )

    fields = described(response.content.decode())
    assert "old password was entered incorrectly" in fields["old_password"]
    assert "fields didn\u2019t match" in fields["new_password2"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"when": "own", "threshold": ""}, "threshold", "Enter the number of tokens"),
        ({"when": "sometimes"}, "fieldset", "Select a valid choice"),
    ],
)
def test_warning_errors_are_read_with_their_field(browser, form, field, message):
    response = browser.post(reverse("pages:account-alerts"), form)

    assert response.status_code == 400
    assert message in described(response.content.decode())[field]


def test_purchase_errors_are_read_with_their_group(browser, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    PlanFactory()
    add_on = AddOnFactory()

    response = browser.post(
        reverse("pages:purchase"), {"add_ons": [str(add_on.pk)], "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 400
    assert "Add-ons need a plan" in described(response.content.decode())["add-ons"]


def test_a_signed_in_page_without_errors_describes_only_what_it_has(browser):
    """The helper itself: a page with help text but no error names only the help."""
    page = browser.get(reverse("pages:account")).content.decode()

    assert "8 characters" in described(page)["new_password1"]


@pytest.mark.parametrize(
    ("item", "field", "form_field", "words"),
    [
        ("bundle", "bundles", "bundles", "A bundle you chose is no longer on sale"),
        ("plan", "plans", "plan", "The plan you chose is no longer offered"),
        ("add_on", "add-ons", "add_ons", "An add-on you chose is no longer on sale"),
    ],
)
def test_an_item_retired_while_the_page_was_open_is_said_in_words_and_orders_nothing(
    browser, user, settings, item, field, form_field, words
):
    """The last of its kind too: its group is drawn to say so though nothing is left in it."""
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    chosen = {} if item == "plan" else {"plan": str(PlanFactory().pk)}
    retired = {"bundle": TokenBundleFactory, "plan": PlanFactory, "add_on": AddOnFactory}[item]()
    type(retired).objects.filter(pk=retired.pk).update(is_active=False)
    chosen[form_field] = str(retired.pk)
    before = database_state()

    response = browser.post(reverse("pages:purchase"), {**chosen, "submission": str(uuid.uuid4())})

    assert response.status_code == 400
    said = described(response.content.decode())[field]
    assert words in said
    assert str(retired.pk) not in said
    assert database_state() == before
