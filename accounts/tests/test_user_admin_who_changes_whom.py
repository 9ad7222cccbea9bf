"""Who may change whom on the user admin.

A staff member cannot deactivate themselves on their own page either. The list's Deactivate
action always left them out (it says "Deactivated 0 user(s)"), but unticking "Active" on
their own page deactivated them: signed out of the admin at once for good (the database
ends their sessions), and the only superuser left nobody to activate them again. Nor can a
superuser take their own staff or superuser status away there, for the same reason."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import UserFactory
from common.tests.helpers import admin_form_as_sent

pytestmark = pytest.mark.django_db

PERMISSIONS = ["view_user", "change_user"]


def test_staff_cannot_deactivate_themselves_on_their_own_page(staff_browser, staff_user):
    url = reverse("admin:accounts_user_change", args=[staff_user.pk])
    page = staff_browser.get(url)
    form = admin_form_as_sent(page)
    form.pop("is_active", None)

    saved = staff_browser.post(url, form)

    assert saved.status_code == 302
    assert User.objects.get(pk=staff_user.pk).is_active
    assert staff_browser.get(reverse("admin:index")).status_code == 200
    assert 'name="is_active"' not in page.content.decode()


@pytest.mark.parametrize("unticked", [["is_staff"], ["is_superuser"], ["is_staff", "is_superuser"]])
def test_a_superuser_cannot_take_their_own_powers_away_on_their_own_page(
    staff_browser, staff_user, unticked
):
    """As for "Active": unticking their own "Staff status" signed them out of the admin for
    good, and their own "Superuser status" left them unable to give it back; the only
    superuser left nobody to do either. Another superuser still can."""
    url = reverse("admin:accounts_user_change", args=[staff_user.pk])
    page = staff_browser.get(url)
    form = admin_form_as_sent(page)
    for name in unticked:
        form.pop(name, None)

    saved = staff_browser.post(url, form)

    me = User.objects.get(pk=staff_user.pk)
    assert (saved.status_code, me.is_staff, me.is_superuser) == (302, True, True)
    assert staff_browser.get(reverse("admin:index")).status_code == 200
    assert 'name="is_staff"' not in page.content.decode()


def test_a_superuser_still_takes_another_superusers_powers_away(staff_browser):
    other = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:accounts_user_change", args=[other.pk])
    form = admin_form_as_sent(staff_browser.get(url))
    form.pop("is_staff", None)
    form.pop("is_superuser", None)

    assert staff_browser.post(url, form).status_code == 302
    other.refresh_from_db()
    assert (other.is_staff, other.is_superuser) == (False, False)


def test_staff_still_deactivate_another_user_on_their_page(staff_browser):
    other = User.objects.create_user(email="other@example.com")
    url = reverse("admin:accounts_user_change", args=[other.pk])
    form = admin_form_as_sent(staff_browser.get(url))
    form.pop("is_active", None)

    assert staff_browser.post(url, form).status_code == 302
    assert not User.objects.get(pk=other.pk).is_active


def test_staff_who_may_change_users_cannot_take_over_a_superuser_who_is_not_staff(client):
    """A superuser whose staff access a superuser took away for a while (a leave, an
    investigation) is still a superuser: staff who may change users set their password, and
    signed in as them once their access was given back."""
    manager = UserFactory(is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename__in=PERMISSIONS))
    client.force_login(manager)
    boss = UserFactory(is_superuser=True)
    form = {"usable_password": "true", "password1": "Taken-0ver-pw!", "password2": "Taken-0ver-pw!"}

    client.post(reverse("admin:auth_user_password_change", args=[boss.pk]), form)
    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(boss.pk)]},
    )

    boss.refresh_from_db()
    assert not boss.check_password("Taken-0ver-pw!")
    assert boss.is_active


@pytest.mark.parametrize("power", ["group", "permission"])
def test_staff_who_may_change_users_cannot_take_over_a_role_held_while_not_staff(client, power):
    """A staff member whose staff access a superuser took away for a while keeps their role
    (their group, their permissions) for when it is given back: staff who may change users
    set their password, and had that role from then on."""
    manager = UserFactory(is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename__in=PERMISSIONS))
    client.force_login(manager)
    refunds = Permission.objects.get(codename="change_invoice")
    away = UserFactory()
    if power == "group":
        role = Group.objects.create(name="Refunds")
        role.permissions.add(refunds)
        away.groups.add(role)
    else:
        away.user_permissions.add(refunds)
    form = {"usable_password": "true", "password1": "Taken-0ver-pw!", "password2": "Taken-0ver-pw!"}

    client.post(reverse("admin:auth_user_password_change", args=[away.pk]), form)
    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(away.pk)]},
    )

    away.refresh_from_db()
    assert not away.check_password("Taken-0ver-pw!")
    assert away.is_active


def test_staff_who_may_change_users_still_change_customers(client):
    manager = UserFactory(is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(codename__in=PERMISSIONS))
    client.force_login(manager)
    customers = [UserFactory(), UserFactory()]
    form = {
        "usable_password": "true",
        "password1": "Set-by-support!",
        "password2": "Set-by-support!",
    }

    client.post(reverse("admin:auth_user_password_change", args=[customers[0].pk]), form)
    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(c.pk) for c in customers]},
    )

    assert User.objects.get(pk=customers[0].pk).check_password("Set-by-support!")
    assert not User.objects.filter(pk__in=[c.pk for c in customers], is_active=True).exists()
