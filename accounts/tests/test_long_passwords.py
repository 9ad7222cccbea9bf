"""A password longer than 128 characters, as a password manager makes one: the pages and the
admin take it, so the API signs in with it, and registering through the API takes it as the
sign-up page does (the contract refuses only what Django's validators refuse)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LONG_PASSWORD = "correct horse battery staple " * 10


def test_a_long_password_set_on_the_account_page_signs_in_through_the_api(client, api_client):
    """The API's login answered 400 ("no more than 128 characters") to the password the
    account page had just set."""
    user = UserFactory()
    client.force_login(user)
    form = {"old_password": PASSWORD, "new_password1": LONG_PASSWORD}
    changed = client.post(
        reverse("pages:account-password"), {**form, "new_password2": LONG_PASSWORD}
    )
    assert changed.status_code == 302

    response = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": LONG_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_registering_through_the_api_takes_the_long_password_the_sign_up_page_takes(
    api_client,
):
    response = api_client.post(
        "/api/v1/auth/register",
        {"email": "long@example.com", "password": LONG_PASSWORD},
        format="json",
    )

    assert response.status_code == 201
    assert User.objects.get(email="long@example.com").check_password(LONG_PASSWORD)
