"""Staff deactivate users in the admin; nobody deletes one there."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.signals import user_registered
from accounts.tests.factories import PASSWORD, UserFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_a_user_cannot_be_deleted_in_the_admin_only_deactivated(staff_browser):
    user = UserFactory()

    delete_page = staff_browser.post(reverse("admin:accounts_user_delete", args=[user.pk]))
    staff_browser.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "_selected_action": [str(user.pk)], "post": "yes"},
    )
    deactivated = staff_browser.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(user.pk)]},
    )

    assert delete_page.status_code == 403
    assert (
        "delete_selected"
        not in staff_browser.get(reverse("admin:accounts_user_changelist")).content.decode()
    )
    assert deactivated.status_code == 302
    assert User.objects.filter(pk=user.pk, is_active=False).exists()


@pytest.fixture
def user_manager(client):
    """Staff who may view and change users, and nothing more."""
    manager = UserFactory(is_staff=True)
    manager.user_permissions.set(
        Permission.objects.filter(codename__in=["view_user", "change_user", "add_user"])
    )
    client.force_login(manager)
    client.manager = manager
    return client


def test_staff_who_may_change_users_cannot_make_anyone_staff_or_superuser(user_manager):
    """Any staff member may mark invoices paid and refund through the staff API: only a
    superuser gives staff powers. A staff member with the change permission could make
    themselves superuser, or a friend staff."""
    friend = UserFactory()
    form = {"email": "", "is_active": "on", "is_staff": "on", "is_superuser": "on"}

    for target in (user_manager.manager, friend):
        user_manager.post(
            reverse("admin:accounts_user_change", args=[target.pk]), {**form, "email": target.email}
        )
    user_manager.post(
        reverse("admin:accounts_user_add"),
        {"email": "new@example.com", "usable_password": "false", "is_staff": "on"},
    )

    assert list(User.objects.filter(is_staff=True).values_list("email", "is_superuser")) == [
        (user_manager.manager.email, False)
    ]
    assert not User.objects.get(email="new@example.com").is_staff


def test_staff_who_may_change_users_cannot_change_or_deactivate_a_superuser(user_manager):
    boss = UserFactory(is_staff=True, is_superuser=True)

    page = user_manager.get(reverse("admin:accounts_user_change", args=[boss.pk]))
    user_manager.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [str(boss.pk)]},
    )

    assert 'name="email"' not in page.content.decode()
    assert User.objects.get(pk=boss.pk).is_active


def test_staff_who_may_change_users_cannot_take_over_a_more_powerful_staff_account(
    user_manager,
):
    """Only a superuser gives groups and permissions; setting the password of a staff member
    who has more of them (and signing in as them) gives them just the same."""
    powerful = UserFactory(is_staff=True)
    powerful.user_permissions.set(Permission.objects.filter(codename="delete_tokenbundle"))
    url = reverse("admin:auth_user_password_change", args=[powerful.pk])

    response = user_manager.post(
        url,
        {"usable_password": "true", "password1": "Taken-0ver-pw!", "password2": "Taken-0ver-pw!"},
    )

    powerful.refresh_from_db()
    assert not powerful.check_password("Taken-0ver-pw!"), response.status_code


ADDED = {
    "email": "new@example.com",
    "usable_password": "true",
    "password1": "a-long-password-1",
    "password2": "a-long-password-1",
}


class Announcements(list):
    """The user ids `user_registered` announced; its receiver raises once `failing` is set."""

    failing = False


@pytest.fixture
def announcements():
    heard = Announcements()

    def receiver(sender, user_id, **kwargs):
        heard.append(user_id)
        if heard.failing:
            raise RuntimeError("a receiver is down")

    user_registered.connect(receiver, dispatch_uid="test.announcements")
    yield heard
    user_registered.disconnect(dispatch_uid="test.announcements")


def test_a_user_added_in_the_admin_is_announced_as_one_who_registered(staff_browser, announcements):
    """`user_registered` is how the other apps learn of a new user (the tokens app grants
    the trial); Django's add-user view saved the user and announced nothing."""
    response = staff_browser.post(reverse("admin:accounts_user_add"), ADDED)

    assert response.status_code == 302
    assert announcements == [User.objects.get(email="new@example.com").pk]


def test_a_receiver_that_fails_undoes_the_admins_add(staff_browser, announcements):
    """The announcement is part of the add's transaction, as it is of a registration's: a
    receiver that cannot do its part leaves no user behind (without a trial)."""
    announcements.failing = True
    before = database_state()

    with pytest.raises(RuntimeError, match="a receiver is down"):
        staff_browser.post(reverse("admin:accounts_user_add"), ADDED)

    assert len(announcements) == 1
    assert database_state() == before


def test_an_add_the_admin_refuses_announces_nothing_and_changes_nothing(
    staff_browser, announcements
):
    UserFactory(email="new@example.com")
    before = database_state()

    response = staff_browser.post(
        reverse("admin:accounts_user_add"), {**ADDED, "email": "NEW@example.com"}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert announcements == []
    assert database_state() == before


def test_the_admin_takes_an_address_the_unique_index_tells_apart(staff_browser, api_client):
    """Turkish domains may have a dotless i (U+0131): "\u0131l\u0131k.com.tr" is not
    "ilik.com.tr" (IDNA gives them different A-labels), and the unique index on lower(email)
    keeps them apart, so both register through the API. The admin's check compared
    upper(email), where the dotless i and "i" are both "I": it said the second was taken, so
    staff could neither add it nor save any change (here deactivating) to its user."""
    for email in ("ali@ilik.com.tr", "ali@\u0131l\u0131k.com.tr", "ayse@ilik.com.tr"):
        registered = api_client.post(
            "/api/v1/auth/register",
            {"email": email, "password": "a-long-enough-password-1"},
            format="json",
        )
        assert registered.status_code == 201, registered.json()
    dotless = User.objects.get(email="ali@\u0131l\u0131k.com.tr")

    changed = staff_browser.post(
        reverse("admin:accounts_user_change", args=[dotless.pk]),
        {"email": dotless.email, "_save": "Save"},
    )
    added = staff_browser.post(
        reverse("admin:accounts_user_add"),
        {"email": "ayse@\u0131l\u0131k.com.tr", "usable_password": "false", "_save": "Save"},
    )

    assert [changed.status_code, added.status_code] == [302, 302]
    assert not User.objects.get(pk=dotless.pk).is_active
    assert User.objects.filter(email="ayse@\u0131l\u0131k.com.tr").exists()


def deactivate_then_reactivate(staff_browser, user, way: str) -> None:
    changelist = reverse("admin:accounts_user_changelist")
    change = reverse("admin:accounts_user_change", args=[user.pk])
    for active in (False, True):
        if way == "action":
            action = "activate_users" if active else "deactivate_users"
            staff_browser.post(changelist, {"action": action, "_selected_action": [str(user.pk)]})
        else:
            form = {"email": user.email, **({"is_active": "on"} if active else {})}
            assert staff_browser.post(change, form).status_code == 302
        assert User.objects.get(pk=user.pk).is_active is active


@pytest.mark.parametrize("way", ["action", "change form"])
def test_deactivation_ends_every_session_the_user_had_for_good(staff_browser, way):
    """Staff deactivate a compromised account to end its sessions: reactivated, its refresh
    tokens (7 days) and signed-in pages from before worked again. Those from after work."""
    user = UserFactory(password=PASSWORD)
    api, browser = APIClient(), Client()
    before = api.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD})
    browser.force_login(user)

    deactivate_then_reactivate(staff_browser, user, way)
    refreshed = api.post("/api/v1/auth/refresh", {"refresh": before.json()["refresh"]})
    page = browser.get(reverse("pages:account"))
    after = api.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD})

    assert (refreshed.status_code, refreshed.json().get("code")) == (401, "not_authenticated")
    assert (page.status_code, page["Location"].split("?")[0]) == (302, reverse("pages:sign-in"))
    assert api.post("/api/v1/auth/refresh", {"refresh": after.json()["refresh"]}).status_code == 200


def test_a_user_deactivated_in_the_database_has_every_session_ended_for_good(api_client):
    """psql's `UPDATE accounts_user SET is_active = false` ends sessions as the admin does."""
    user = UserFactory(password=PASSWORD)
    login = api_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD})
    with connection.cursor() as cursor:
        for active in (False, True):
            cursor.execute(
                "UPDATE accounts_user SET is_active = %s WHERE id = %s", [active, user.pk.hex]
            )

    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": login.json()["refresh"]})

    assert (refreshed.status_code, refreshed.json().get("code")) == (401, "not_authenticated")


def test_a_user_never_deactivated_keeps_their_sessions(api_client):
    user = UserFactory(password=PASSWORD)
    login = api_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD})
    User.objects.filter(pk=user.pk).update(is_staff=False)

    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": login.json()["refresh"]})

    assert refreshed.status_code == 200


def test_activating_counts_only_the_users_it_activated(staff_browser):
    """Deactivating counts the users who were active; activating counted every user
    selected, so staff read "Activated 2" when one of the two could not sign in before."""
    inactive, active = UserFactory(is_active=False), UserFactory()
    changelist = reverse("admin:accounts_user_changelist")

    response = staff_browser.post(
        changelist,
        {"action": "activate_users", "_selected_action": [str(inactive.pk), str(active.pk)]},
    )

    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Activated 1 user(s)."]
    assert set(User.objects.filter(is_active=True).values_list("pk", flat=True)) >= {
        inactive.pk,
        active.pk,
    }
