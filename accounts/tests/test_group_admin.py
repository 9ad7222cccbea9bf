"""Groups are roles: what a group may do, its members may. Only a superuser gives powers in
the admin (UserAdmin.POWERS), so only a superuser adds, changes or deletes a group."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.selectors import staff_may
from accounts.tests.factories import UserFactory
from common.tests.helpers import admin_form_as_sent, database_state

pytestmark = pytest.mark.django_db


def permissions(*codenames: str) -> list[Permission]:
    return list(Permission.objects.filter(codename__in=codenames))


def roles() -> list[tuple]:
    return sorted(
        (group.name, sorted(group.permissions.values_list("codename", flat=True)))
        for group in Group.objects.all()
    )


@pytest.fixture
def group_manager(client):
    """A support agent who may view invoices (their role, through "Support") and manage
    groups, and is no superuser."""
    support = Group.objects.create(name="Support")
    support.permissions.set(
        permissions("view_invoice", "view_group", "add_group", "change_group", "delete_group")
    )
    agent = UserFactory(is_staff=True)
    agent.groups.add(support)
    client.force_login(agent)
    client.agent, client.support = agent, support
    return client


def test_staff_who_are_no_superuser_cannot_give_their_group_more_powers(group_manager):
    """The agent gives "Support" the invoices' change permission: they (and everyone in
    Support) could mark invoices paid and refund them in the admin and the staff API."""
    money = permissions("change_invoice", "change_tokenaccount", "add_apikey")
    before, state = roles(), database_state()

    changed = group_manager.post(
        reverse("admin:auth_group_change", args=[group_manager.support.pk]),
        {
            "name": "Support",
            "permissions": [str(p.pk) for p in [*group_manager.support.permissions.all(), *money]],
        },
    )
    added = group_manager.post(
        reverse("admin:auth_group_add"),
        {"name": "Money", "permissions": [str(p.pk) for p in money]},
    )

    assert (changed.status_code, added.status_code) == (403, 403)
    assert roles() == before
    assert database_state() == state
    assert not staff_may(user_id=group_manager.agent.pk, permission="billing.change_invoice")


def test_staff_who_are_no_superuser_cannot_free_themselves_of_their_role(group_manager):
    """A staff member with no permission at all is the contract's staff, who may do everything
    (accounts.selectors.staff_may): emptying or deleting the group that holds the agent to
    viewing gave them every staff endpoint."""
    before = roles()

    group_manager.post(
        reverse("admin:auth_group_change", args=[group_manager.support.pk]),
        {"name": "Support", "permissions": []},
    )
    group_manager.post(reverse("admin:auth_group_delete", args=[group_manager.support.pk]))
    group_manager.post(
        reverse("admin:auth_group_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(group_manager.support.pk)],
            "post": "yes",
        },
    )

    assert roles() == before
    assert not staff_may(user_id=group_manager.agent.pk, permission="billing.change_invoice")


def test_staff_who_may_manage_groups_still_see_them(group_manager):
    page = group_manager.get(reverse("admin:auth_group_change", args=[group_manager.support.pk]))

    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()


def test_a_superuser_gives_a_group_its_permissions(staff_browser):
    group = Group.objects.create(name="Billing")

    response = staff_browser.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": "Billing", "permissions": [str(p.pk) for p in permissions("change_invoice")]},
    )

    assert response.status_code == 302
    assert roles() == [("Billing", ["change_invoice"])]


def test_a_page_opened_before_a_permission_was_taken_away_does_not_give_it_back(staff_browser):
    """A superuser opens "Support"; another takes its refund permission away (an agent
    refunded what they should not have); the first, still on the page, renames the group
    and saves. The page sent the permissions it showed, and Support could refund again."""
    support = Group.objects.create(name="Support")
    support.permissions.set(permissions("view_invoice", "change_invoice"))
    change_url = reverse("admin:auth_group_change", args=[support.pk])
    page = staff_browser.get(change_url)
    support.permissions.remove(*permissions("change_invoice"))

    response = staff_browser.post(change_url, {**admin_form_as_sent(page), "name": "Helpdesk"})

    assert roles() == [("Support", ["view_invoice"])]
    assert (response.status_code, response["Location"]) == (302, change_url)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Nothing was saved: Support was changed by someone else since you opened the page. "
        "The page shows it as it is now; make your change again."
    ]


def test_a_group_page_opened_at_the_groups_current_state_saves(staff_browser):
    support = Group.objects.create(name="Support")
    support.permissions.set(permissions("view_invoice"))
    change_url = reverse("admin:auth_group_change", args=[support.pk])
    page = staff_browser.get(change_url)

    response = staff_browser.post(change_url, {**admin_form_as_sent(page), "name": "Helpdesk"})

    assert response.status_code == 302
    assert roles() == [("Helpdesk", ["view_invoice"])]
