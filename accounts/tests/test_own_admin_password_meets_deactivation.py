"""A staff member changing their own password at /admin/password_change/ while a superuser
deactivates them, on PostgreSQL with a real thread and its own connection: the deactivation
lands after the admin has read the staff member and before it writes the new password."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import PasswordChangeForm

from accounts.tests.deactivation import deactivate_on_another_connection
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "x-new-long-pass-2026"


def test_a_staff_members_own_new_password_as_they_are_deactivated_leaves_them_deactivated(
    staff_browser, staff_user, monkeypatch
):
    """The admin's page saved the whole staff member it had read, `is_active` included: the
    deactivation was undone, and with it the end of their access to the admin."""
    checked = PasswordChangeForm.clean_old_password

    def checked_then_deactivated(form):
        old_password = checked(form)
        deactivate_on_another_connection(staff_user.pk)
        return old_password

    monkeypatch.setattr(PasswordChangeForm, "clean_old_password", checked_then_deactivated)
    form = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    page = staff_browser.post("/admin/password_change/", form)

    assert page.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.is_active is False
    assert staff_user.check_password(NEW_PASSWORD)
