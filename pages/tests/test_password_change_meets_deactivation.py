"""A customer changing their password on the account page while staff deactivate them, on
PostgreSQL with a real thread and its own connection: the deactivation lands after the
page has read the signed-in user and before it writes the new password."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import PasswordChangeForm
from django.urls import reverse

from accounts.tests.deactivation import deactivate_on_another_connection
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "x-new-long-pass-2026"


def test_a_password_changed_as_staff_deactivate_the_user_leaves_them_deactivated(
    client, monkeypatch
):
    """The page saved the whole user it had read, `is_active` included: the deactivation
    was undone and the customer could sign in with the new password."""
    user = UserFactory()
    client.force_login(user)
    checked = PasswordChangeForm.clean_old_password

    def checked_then_deactivated(form):
        old_password = checked(form)
        deactivate_on_another_connection(user.pk)
        return old_password

    monkeypatch.setattr(PasswordChangeForm, "clean_old_password", checked_then_deactivated)
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    client.post(reverse("pages:account-password"), form)

    user.refresh_from_db()
    assert user.is_active is False
    assert user.sessions_ended == 1
    signed_in = client.post(
        reverse("pages:sign-in"), {"username": user.email, "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200
    assert client.get(reverse("pages:account")).status_code == 302
