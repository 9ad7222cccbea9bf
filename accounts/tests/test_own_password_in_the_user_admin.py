"""A staff member's own password is changed at /admin/password_change/ only, which asks for
the current one and counts guesses at it per account (docs/decisions.md): the user admin's
password page sets one without it, so whoever held a stolen staff session (a superuser's, or
one of staff who may change users) set a new password there and kept the account."""

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "x-new-long-pass-2026"


def test_staff_are_sent_to_the_page_that_asks_for_their_current_password(staff_browser, staff_user):
    url = reverse("admin:auth_user_password_change", args=[staff_user.pk])
    form = {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    answers = [staff_browser.post(url, form), staff_browser.get(url)]

    staff_user.refresh_from_db()
    assert staff_user.check_password(PASSWORD)
    assert [(a.status_code, a["Location"]) for a in answers] == [
        (302, reverse("admin:password_change"))
    ] * 2
