"""Who deactivated or activated a user, or revoked an API key, through the admin's list
actions or the staff API: the row's History names them. Before, only the admin's change
pages wrote History, and nothing said who had locked a customer out or revoked a key."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from accounts import services
from accounts.models import ApiKey, User
from accounts.tests.factories import UserFactory, staff_in_role
from common.tests.audit import history, records
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

USERS = "admin:accounts_user_changelist"
KEYS = "/api/v1/admin/api-keys"


def act(client, changelist: str, action: str, *rows) -> None:
    body = {"action": action, ACTION_CHECKBOX_NAME: [str(row.pk) for row in rows]}
    client.post(reverse(changelist), body)


def test_deactivating_and_activating_users_names_the_staff_member(staff_browser, staff_user):
    customers = UserFactory.create_batch(2)

    act(staff_browser, USERS, "deactivate_users", *customers)
    act(staff_browser, USERS, "activate_users", customers[0])

    assert list(
        User.objects.filter(pk__in=[c.pk for c in customers])
        .order_by("email")
        .values_list("is_active", flat=True)
    ) == [True, False]
    assert history(customers[0]) == [
        (staff_user.email, "Deactivated."),
        (staff_user.email, "Activated."),
    ]
    assert history(customers[1]) == [(staff_user.email, "Deactivated.")]


def test_a_user_already_inactive_is_not_recorded_again(staff_browser, staff_user):
    customer = UserFactory(is_active=False)

    act(staff_browser, USERS, "deactivate_users", customer)

    assert history(customer) == []


def test_a_refused_deactivation_records_nothing(client):
    manager = staff_in_role("accounts.change_user", "accounts.view_user")
    client.force_login(manager)
    boss = UserFactory(is_staff=True, is_superuser=True)
    before, logged = database_state(), records()

    act(client, USERS, "deactivate_users", boss)

    assert database_state() == before
    assert records() == logged


def test_creating_a_key_through_the_api_names_the_staff_member_once(staff_client, staff_user):
    """The key recorded `created_by`, but its History was empty: who minted it was on no
    page, unlike a key added in the admin or revoked anywhere."""
    headers = {"HTTP_IDEMPOTENCY_KEY": "key-1"}

    first = staff_client.post(KEYS, {"name": "backend"}, **headers)
    replay = staff_client.post(KEYS, {"name": "backend"}, **headers)

    assert first.status_code == replay.status_code == 201
    key = ApiKey.objects.get()
    assert history(key) == [(staff_user.email, "Added.")]
    assert LogEntry.objects.get().is_addition()


def test_creating_a_key_in_the_admin_names_the_staff_member_once(staff_browser, staff_user):
    """The admin's add page writes Django's own record; the service's is the one kept."""
    staff_browser.post("/admin/accounts/apikey/add/", {"name": "backend"})

    key = ApiKey.objects.get()
    assert history(key) == [(staff_user.email, "Added.")]
    assert LogEntry.objects.get().is_addition()


def test_a_refused_key_records_nothing(staff_client):
    before, logged = database_state(), records()

    response = staff_client.post(KEYS, {"name": "\u200b "})

    assert response.status_code == 400
    assert database_state() == before
    assert records() == logged


def test_revoking_a_key_in_the_admin_names_the_staff_member(staff_browser, staff_user):
    key = services.api_key_create(name="backend", actor_id=None).key

    act(staff_browser, "admin:accounts_apikey_changelist", "revoke", key)

    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert history(key) == [(staff_user.email, "Revoked.")]


def test_revoking_a_key_through_the_api_names_the_staff_member(staff_client, staff_user):
    key = services.api_key_create(name="backend", actor_id=None).key

    first = staff_client.delete(f"{KEYS}/{key.pk}")
    again = staff_client.delete(f"{KEYS}/{key.pk}")

    assert first.status_code == again.status_code == 204
    assert history(key) == [(staff_user.email, "Revoked.")]


def test_revoking_no_such_key_records_nothing():
    staff = client_for(UserFactory(is_staff=True))
    before, logged = database_state(), records()

    response = staff.delete(f"{KEYS}/{uuid.uuid4()}")

    assert response.status_code == 404
    assert database_state() == before
    assert records() == logged
