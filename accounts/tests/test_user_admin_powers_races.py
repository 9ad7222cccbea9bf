"""A superuser gives a customer powers (staff status, a role) while a staff member who may
change users, but not those who hold powers, sets the customer's password, deactivates them
or changes their address: on PostgreSQL with real threads, each with its own connection. The
grant is held open, its user row locked as the admin's change page locks it, until the staff
member's request has passed the admin's check (the customer held no powers yet) and waits on
that lock; then it commits. The check was read without a lock, so the staff member's change
went through, on someone who held powers by then: a password they knew, or an address whose
password reset they received, was a staff account of their own."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory, staff_in_role
from common.tests.concurrency import meeting
from common.tests.helpers import admin_form_as_sent

pytestmark = pytest.mark.django_db(transaction=True)

NEW = "Set-by-support-1!"
POWERS = ["staff", "role"]


def granting(customer: User, power: str):
    """A superuser's grant, as the user admin's change page makes it (the row locked first)."""
    role = Group.objects.create(name="Refunds")
    role.permissions.add(Permission.objects.get(codename="change_invoice"))

    def grant() -> None:
        user = User.objects.select_for_update().get(pk=customer.pk)
        if power == "staff":
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        else:
            user.groups.add(role)

    return grant


def holds_powers(user: User) -> bool:
    user.refresh_from_db()
    return user.is_staff or user.groups.exists()


@pytest.fixture
def manager(client):
    """A staff member who may change users (and so not those who hold powers)."""
    client.force_login(staff_in_role("accounts.view_user", "accounts.change_user"))
    return client


@pytest.mark.parametrize("power", POWERS)
def test_a_password_set_as_the_user_is_given_powers_is_refused(manager, power):
    customer = UserFactory()
    url = reverse("admin:auth_user_password_change", args=[customer.pk])
    form = {"usable_password": "true", "password1": NEW, "password2": NEW}

    answers = meeting(granting(customer, power), lambda: manager.post(url, form))

    page = answers["waiting"]
    assert not isinstance(page, Exception), page
    assert answers["held"] is None
    assert holds_powers(customer)
    assert customer.check_password(PASSWORD)
    assert page.status_code == 302
    shown = manager.get(page.url).content.decode()
    assert "Nothing was saved" in shown
    assert "only a superuser may change them now" in shown


@pytest.mark.parametrize("action", ["deactivate_users", "activate_users"])
@pytest.mark.parametrize("power", POWERS)
def test_deactivating_or_activating_as_the_user_is_given_powers_leaves_them_out(
    manager, power, action
):
    customer = UserFactory(is_active=action == "deactivate_users")
    body = {"action": action, "_selected_action": [str(customer.pk)]}
    url = reverse("admin:accounts_user_changelist")
    untouched = customer.is_active

    answers = meeting(granting(customer, power), lambda: manager.post(url, body))

    page = answers["waiting"]
    assert not isinstance(page, Exception), page
    assert holds_powers(customer)
    assert customer.is_active == untouched
    assert "0 user(s)" in manager.get(page.url).content.decode()


@pytest.mark.parametrize("power", POWERS)
def test_an_address_changed_as_the_user_is_given_powers_is_refused(manager, power):
    """The page's shown state refuses a save from a page opened before the grant; a POST
    made without it (by hand) met only the unlocked check."""
    customer = UserFactory(email="before@example.com")
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    form = admin_form_as_sent(manager.get(url))
    form.pop("read_state")

    answers = meeting(
        granting(customer, power),
        lambda: manager.post(url, {**form, "email": "mine@example.com"}),
    )

    page = answers["waiting"]
    assert not isinstance(page, Exception), page
    assert holds_powers(customer)
    assert customer.email == "before@example.com"
    assert "only a superuser may change them now" in manager.get(page.url).content.decode()


def test_staff_still_set_a_customers_password_and_deactivate_them(manager):
    customer = UserFactory()
    form = {"usable_password": "true", "password1": NEW, "password2": NEW}

    manager.post(reverse("admin:auth_user_password_change", args=[customer.pk]), form)
    manager.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(customer.pk)]},
    )

    customer.refresh_from_db()
    assert customer.check_password(NEW)
    assert not customer.is_active
