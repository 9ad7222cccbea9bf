"""Staff setting a user's password in the admin while another staff member deactivates that
user, on PostgreSQL with a real thread and its own connection: the deactivation lands after
the admin has read the user and before it writes the new password."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.urls import reverse

from accounts.tests.deactivation import deactivate_on_another_connection
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "x-new-long-pass-2026"


@pytest.mark.parametrize(
    "form",
    [
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        {"usable_password": "false", "unset-password": "1"},
    ],
    ids=["new password", "password disabled"],
)
def test_a_password_set_in_the_admin_as_the_user_is_deactivated_leaves_them_deactivated(
    staff_browser, monkeypatch, form
):
    """The admin saved the whole user it had read, `is_active` included: the deactivation
    was undone."""
    user = UserFactory()
    cleaned = AdminPasswordChangeForm.clean

    def cleaned_then_deactivated(self):
        data = cleaned(self)
        deactivate_on_another_connection(user.pk)
        return data

    monkeypatch.setattr(AdminPasswordChangeForm, "clean", cleaned_then_deactivated)

    page = staff_browser.post(reverse("admin:auth_user_password_change", args=[user.pk]), form)

    assert page.status_code == 302
    user.refresh_from_db()
    assert user.is_active is False
    assert user.sessions_ended == 1
    assert user.check_password(NEW_PASSWORD) is ("password1" in form)
