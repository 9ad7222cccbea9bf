"""A new password saved for a user deleted meanwhile (with psql or a shell: the admin deletes
none), on PostgreSQL with a real thread and its own connection: the deletion lands after the
page has read the user and before it writes the password. Each page answers as it answers a
user deleted before the request, never with a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm, PasswordChangeForm
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import User
from accounts.tests.deactivation import delete_on_another_connection
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "x-new-long-pass-2026"
OWN_FORM = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}


def deleted_once_checked(monkeypatch, form_class, method: str, user_id) -> None:
    checked = getattr(form_class, method)

    def checked_then_deleted(form):
        answer = checked(form)
        delete_on_another_connection(user_id)
        return answer

    monkeypatch.setattr(form_class, method, checked_then_deleted)


def test_a_password_staff_set_for_a_user_deleted_meanwhile_is_a_message(staff_browser, monkeypatch):
    """As the user's change page answers a save of a user deleted meanwhile: the users' list
    and a message, as it does for one deleted before the page was sent."""
    user = UserFactory()
    deleted_once_checked(monkeypatch, AdminPasswordChangeForm, "clean", user.pk)
    staff_browser.raise_request_exception = False
    form = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    page = staff_browser.post(reverse("admin:auth_user_password_change", args=[user.pk]), form)

    assert page.status_code == 302
    assert page["Location"] == reverse("admin:accounts_user_changelist")
    assert [str(m) for m in get_messages(page.wsgi_request)] == [
        "This user was deleted meanwhile: nothing was saved."
    ]
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_staff_members_own_new_password_as_they_are_deleted_signs_them_out(
    staff_browser, staff_user, monkeypatch
):
    """As the admin answers a staff member deleted before the request: its sign-in page."""
    deleted_once_checked(monkeypatch, PasswordChangeForm, "clean_old_password", staff_user.pk)
    staff_browser.raise_request_exception = False

    page = staff_browser.post("/admin/password_change/", OWN_FORM)

    assert page.status_code == 302
    assert page["Location"].split("?")[0] == reverse("admin:login")
    assert staff_browser.get(reverse("admin:index")).status_code == 302
    assert not User.objects.filter(pk=staff_user.pk).exists()


def test_a_customers_new_password_as_they_are_deleted_signs_them_out(client, monkeypatch):
    """As the account page answers a customer deleted before the request: the sign-in page."""
    user = UserFactory()
    client.force_login(user)
    deleted_once_checked(monkeypatch, PasswordChangeForm, "clean_old_password", user.pk)
    client.raise_request_exception = False

    page = client.post(reverse("pages:account-password"), OWN_FORM)

    assert page.status_code == 302
    assert page["Location"].split("?")[0] == reverse("pages:sign-in")
    assert client.get(reverse("pages:account")).status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
