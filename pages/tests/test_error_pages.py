"""The pages' 404 and 500: a person reads, at a phone's width, what happened and where to go,
never Django's bare "Not Found" or "Server Error (500)" (no viewport, no way back)."""

from __future__ import annotations

import sys

import pytest
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
