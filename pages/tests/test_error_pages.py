"""The pages' 404 and 500: a person reads, at a phone's width, what happened and where to go,
never Django's bare "Not Found" or "Server Error (500)" (no viewport, no way back)."""

from __future__ import annotations

import sys

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.tests.helpers import checkout

pytestmark = pytest.mark.django_db

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    client.raise_request_exception = False
    return client


def test_another_users_invoice_is_a_404_page_with_the_way_back(browser, bundles):
    other = checkout(UserFactory(), bundles=bundles[:1]).invoice

    response = browser.get(reverse("pages:invoice", args=[other.pk]))

    page = response.content.decode()
    assert response.status_code == 404
    assert VIEWPORT in page
    assert "<h1>Page not found</h1>" in page
    assert f'href="{reverse("pages:invoices")}"' in page
    assert other.number not in page


def test_a_visitor_s_404_offers_prices_and_sign_in(client):
    response = client.get("/no-such-page")

    page = response.content.decode()
    assert response.status_code == 404
    assert VIEWPORT in page
    assert f'href="{reverse("pages:sign-in")}"' in page


def test_the_api_keeps_its_json_404(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


def test_a_failing_page_is_a_500_page_that_says_what_to_check(browser, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    # pages.views re-exports the view under the module's own name: patch the module.
    monkeypatch.setattr(sys.modules["pages.views.invoices"], "invoices_of_user", broken)

    response = browser.get(reverse("pages:invoices"))

    page = response.content.decode()
    assert response.status_code == 500
    assert VIEWPORT in page
    assert 'look at <a href="/invoices">your invoices</a> before you pay again' in page
    assert "boom" not in page


def _refused_connections(monkeypatch) -> None:
    """The database down: every new connection is refused (nothing listens on port 1)."""
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_404_while_the_database_is_down_is_the_404_page(user, monkeypatch, caplog):
    """The header's balance (and the session's user) are read while the 404 page is drawn,
    outside the view: the database's error there made Django's 500 page, with a traceback
    in the log, for an address that simply does not exist."""
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    _refused_connections(monkeypatch)

    response = browser.get("/no-such-page")

    connection.close()
    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in page
    assert VIEWPORT in page
    (drawn,) = [record for record in caplog.records if record.name == "pages.errors"]
    assert "Connection refused" in drawn.getMessage()
    assert "\n" not in drawn.getMessage()  # libpq's hint on its second line left out


def test_a_signed_in_404_whose_balance_times_out_is_the_404_page(browser, monkeypatch):
    def timed_out(**kwargs):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr("pages.context_processors.token_balance", timed_out)

    response = browser.get("/no-such-page")

    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_csrf_failure_while_the_database_is_down_is_the_403_page(user, monkeypatch):
    """The CSRF failure page draws the same header as the 404 page, outside any view."""
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(user)
    _refused_connections(monkeypatch)

    response = browser.post(reverse("pages:purchase"), {"csrfmiddlewaretoken": "x" * 64})

    connection.close()
    assert response.status_code == 403
    assert "<h1>Please try again</h1>" in response.content.decode()
