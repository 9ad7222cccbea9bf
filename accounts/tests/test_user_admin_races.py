"""Staff giving a user an address in the admin while someone registers it through the API, on
PostgreSQL with real threads, each with its own connection: the registration is held open
until the admin's check that the address is free has passed and its write waits on the
unique index."""

import pytest
from django.urls import reverse

from accounts import services
from accounts.admin.users import UserAdmin
from accounts.models import User
from accounts.tests.factories import UserFactory
from common.tests.concurrency import meeting, run_together
from common.tests.helpers import admin_form_as_sent
from tokens.models import TokenTransaction

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "racer@example.com"
TAKEN = "A user with this email address already exists."
NEW = "the-customers-new-password-2"


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


def test_a_password_the_user_sets_as_staff_save_their_page_keeps_working(
    staff_browser, monkeypatch
):
    """Staff correct a customer's address; after the admin has read the customer and before
    its write, the customer changes their password on the account page, which commits. The
    admin wrote back every column it had read, the old password hash among them: the new
    password stopped working and the old one signed in again."""
    customer = UserFactory(email="before@example.com")
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    form = admin_form_as_sent(staff_browser.get(url))
    read = UserAdmin.get_object

    def read_then_the_password_changes(self, request, object_id, from_field=None):
        user = read(self, request, object_id, from_field)
        [changed] = run_together(
            [lambda: services.user_password_set(user=User.objects.get(pk=user.pk), password=NEW)],
            workers=1,
        )
        assert changed is None, changed
        return user

    monkeypatch.setattr(UserAdmin, "get_object", read_then_the_password_changes)

    response = staff_browser.post(url, {**form, "email": "after@example.com"})

    assert response.status_code == 302
    saved = User.objects.get(pk=customer.pk)
    assert saved.email == "after@example.com"
    assert saved.check_password(NEW)
