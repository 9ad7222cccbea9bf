"""accounts.selectors.staff_may: a role from the staff member's own permissions counts as one
from a group; only active staff may; a superuser may everything, with or without a role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.selectors import staff_may
from accounts.tests.factories import UserFactory, staff_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def own(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.mark.parametrize(
    ("make", "may"),
    [
        (lambda: UserFactory(is_staff=True), True),
        (lambda: own(UserFactory(is_staff=True), "view_invoice"), False),
        (lambda: own(UserFactory(is_staff=True), "change_invoice"), True),
        (lambda: staff_in_role("billing.view_invoice"), False),
        (lambda: staff_in_role("billing.change_invoice"), True),
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
