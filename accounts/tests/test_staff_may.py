"""accounts.selectors.staff_may: a role from the staff member's own permissions counts as one
from a group; only active staff may; a superuser may everything, with or without a role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import StaffMayChangeModel, StaffMayPerMethod, StaffRoleRefused
from accounts.selectors import staff_may
from accounts.tests.factories import UserFactory, staff_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def own(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def in_a_group_without_permissions(user):
    """No role: docs/api.md, Staff roles (a group gives only the permissions it holds)."""
    user.groups.add(Group.objects.create(name="support, not yet given permissions"))
    return user


@pytest.mark.parametrize(
    ("make", "may"),
    [
        (lambda: UserFactory(is_staff=True), True),
        (lambda: own(UserFactory(is_staff=True), "view_invoice"), False),
        (lambda: own(UserFactory(is_staff=True), "change_invoice"), True),
        (lambda: staff_in_role("billing.view_invoice"), False),
        (lambda: staff_in_role("billing.change_invoice"), True),
        (lambda: in_a_group_without_permissions(UserFactory(is_staff=True)), True),
        (lambda: own(UserFactory(is_staff=True, is_superuser=True), "view_invoice"), True),
        (lambda: UserFactory(is_staff=False), False),
        (lambda: UserFactory(is_staff=True, is_active=False), False),
        (lambda: UserFactory(is_staff=False, is_superuser=True), False),
    ],
    ids=[
        "plain staff",
        "own view permission",
        "own change permission",
        "group view permission",
        "group change permission",
        "group without permissions",
        "superuser with a role",
        "not staff",
        "inactive staff",
        "superuser not staff",
    ],
)
def test_who_may(make, may, django_assert_max_num_queries):
    user = make()

    with django_assert_max_num_queries(1):
        answer = staff_may(user_id=user.pk, permission="billing.change_invoice")

    assert answer is may


@pytest.mark.parametrize("permission_class", [StaffMayChangeModel, StaffMayPerMethod])
def test_a_write_the_view_does_not_name_is_refused_to_a_role(permission_class):
    """A write action or method added to a staff view without naming its permission was open
    to every role, a view-only one included."""

    class View(APIView):
        model = ApiKey
        action = "archive"
        staff_permissions = {"POST": "accounts.add_apikey"}

    viewer = staff_in_role("accounts.view_apikey")
    changer = staff_in_role("accounts.change_apikey")
    factory = APIRequestFactory()

    def allowed(user, method: str) -> bool | str:
        request = Request(getattr(factory, method.lower())("/"))
        request.user = user
        try:
            return permission_class().has_permission(request, View())
        except StaffRoleRefused:
            return "refused"

    assert [allowed(viewer, method) for method in ("GET", "DELETE")] == [True, "refused"]
    assert allowed(UserFactory(is_staff=True), "DELETE") is True
    assert allowed(changer, "GET") is True
