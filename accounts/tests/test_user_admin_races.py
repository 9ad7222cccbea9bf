"""Staff giving a user an address in the admin while someone registers it through the API, on
PostgreSQL with real threads, each with its own connection: the registration is held open
until the admin's check that the address is free has passed and its write waits on the
unique index."""

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import User
from accounts.tests.factories import UserFactory
from common.tests.concurrency import meeting
from tokens.models import TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "racer@example.com"
TAKEN = "A user with this email address already exists."


def register():
    return services.user_register(email=EMAIL, password="a-long-enough-password-1")


def test_adding_a_user_in_the_admin_as_the_address_registers_shows_it_taken(
    staff_browser, staff_user, settings
):
    """The admin's add answered 500 (an IntegrityError from the unique index)."""
    settings.TRIAL_TOKENS = 3
    form = {"email": EMAIL.upper(), "usable_password": "false", "_save": "Save"}

    answers = meeting(
        register, lambda: staff_browser.post(reverse("admin:accounts_user_add"), form)
    )

    page = answers["waiting"]
    assert not isinstance(page, Exception), page
    assert page.status_code == 200
    assert TAKEN in page.content.decode()
    assert sorted(User.objects.values_list("email", flat=True)) == sorted([EMAIL, staff_user.email])
    assert User.objects.get(email=EMAIL).pk == answers["held"].pk
    assert TokenTransaction.objects.count() == 1


def test_changing_a_users_address_in_the_admin_as_it_registers_shows_it_taken(
    staff_browser, settings
):
    """The admin's change answered 500 (an IntegrityError from the unique index)."""
    settings.TRIAL_TOKENS = 0
    user = UserFactory(email="before@example.com")
    form = {"email": EMAIL, "is_active": "on", "_save": "Save"}
    url = reverse("admin:accounts_user_change", args=[user.pk])

    answers = meeting(register, lambda: staff_browser.post(url, form))

    page = answers["waiting"]
    assert not isinstance(page, Exception), page
    assert page.status_code == 200
    assert TAKEN in page.content.decode()
    assert User.objects.get(pk=user.pk).email == "before@example.com"
    assert User.objects.get(email=EMAIL).pk == answers["held"].pk
