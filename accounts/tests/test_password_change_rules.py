"""Guesses at the current password on the password pages (the account page's form and the
admin's /admin/password_change/) are limited per account, not only per client address: who
holds a stolen session could otherwise guess the current password from many addresses and
change it, taking the account over."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_window")]

NEW = "another-long-passphrase-2026"
PASSWORD_PAGES = ["page", "admin"]


def change_password(client: Client, path: str, old: str, address: str) -> int:
    """One attempt at `path`'s password form with `old` as the current password, from the
    client address `address`."""
    url = reverse("pages:account-password") if path == "page" else "/admin/password_change/"
    body = {"old_password": old, "new_password1": NEW, "new_password2": NEW}
    return client.post(url, body, REMOTE_ADDR=address).status_code


@pytest.mark.parametrize("path", PASSWORD_PAGES, ids=PASSWORD_PAGES)
def test_guesses_from_many_addresses_at_one_users_password_are_limited(client, monkeypatch, path):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    user = UserFactory(is_staff=True)
    client.force_login(user)
    guesses = [change_password(client, path, f"guess-{n}", f"10.0.0.{n}") for n in range(3)]
    before = database_state()

    refused = change_password(client, path, PASSWORD, "10.0.0.9")

    assert guesses == [guesses[0]] * 3
    assert guesses[0] in (200, 400)
    assert refused == 429
    assert database_state() == before
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.parametrize("path", PASSWORD_PAGES, ids=PASSWORD_PAGES)
def test_password_guesses_count_with_the_accounts_sign_in_attempts(client, monkeypatch, path):
    """One count of password guesses per account, wherever the password is checked: two
    attempts to sign in as the user from elsewhere leave one guess at the password page."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "3/minute")
    user = UserFactory(is_staff=True)
    for n in range(2):
        Client().post(
            reverse("pages:sign-in"),
            {"username": user.email, "password": f"guess-{n}"},
            REMOTE_ADDR=f"10.0.1.{n}",
        )
    client.force_login(user)

    answers = [change_password(client, path, "guess", f"10.0.2.{n}") for n in range(2)]

    assert answers[1] == 429
    assert answers[0] != 429


def test_another_users_password_change_is_not_counted_with_theirs(client, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "2/minute")
    guessed, other = UserFactory(), UserFactory()
    client.force_login(guessed)
    for n in range(3):
        change_password(client, "page", f"guess-{n}", f"10.0.0.{n}")
    other_browser = Client()
    other_browser.force_login(other)

    answer = change_password(other_browser, "page", PASSWORD, "10.0.3.1")

    assert answer == 302
    assert User.objects.get(pk=other.pk).check_password(NEW)
