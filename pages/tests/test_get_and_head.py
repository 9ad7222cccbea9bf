"""Addresses a customer types or follows, or a link checker asks for with HEAD, answer a page
or a redirect, never a bare 405; and nothing is done by asking."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from billing.tests.helpers import checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_the_test_payment_page_answers_head_as_get(client, user, bundles, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True
    invoice = checkout(user, bundles=bundles[:1]).invoice
    client.force_login(user)
    url = reverse("test_checkout:page", args=[invoice.pk])
    before = database_state()

    answer = client.head(url)

    assert (answer.status_code, answer.content) == (200, b"")
    assert database_state() == before


def test_sign_out_asked_with_get_offers_the_button_and_signs_nobody_out(client, user):
    """GET /sign-out was Django's empty 405 page; signing out stays a POST (CSRF), so a link
    or an image elsewhere cannot sign a customer out."""
    client.force_login(user)

    page = client.get(reverse("pages:sign-out"))
    head = client.head(reverse("pages:sign-out"))

    assert (page.status_code, head.status_code, head.content) == (200, 200, b"")
    body = page.content.decode()
    assert "<h1>Sign out</h1>" in body
    assert f'action="{reverse("pages:sign-out")}"' in body
    assert "csrfmiddlewaretoken" in body
    assert client.get(reverse("pages:purchase")).status_code == 200


def test_sign_out_asked_with_get_when_signed_out_goes_to_sign_in(client):
    response = client.get(reverse("pages:sign-out"))

    assert (response.status_code, response["Location"]) == (302, reverse("pages:sign-in"))


def test_sign_out_asked_with_get_keeps_off_other_sites(client, user):
    response = client.get(reverse("pages:sign-out"), {"next": "https://evil.example/"})

    assert (response.status_code, response["Location"]) == (302, reverse("pages:sign-in"))


@pytest.mark.parametrize("next_page", ["home", "2", "/invoices"])
def test_sign_out_asked_with_get_and_a_next_when_signed_out_is_not_a_500(client, next_page):
    """A `next` without a slash or a dot (an old link's `?next=home`) was taken for a URL
    pattern's name by django.shortcuts.redirect: NoReverseMatch, a 500. It is a path, as
    signing out with the button takes it."""
    client.raise_request_exception = False

    response = client.get(reverse("pages:sign-out"), {"next": next_page})

    assert (response.status_code, response.get("Location")) == (302, next_page)


def test_signing_out_still_needs_the_form_s_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    refused = client.post(reverse("pages:sign-out"))

    assert refused.status_code == 403
    assert client.get(reverse("pages:purchase")).status_code == 200
