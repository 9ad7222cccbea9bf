"""A user's admin page saved after someone else changed the user since it was opened writes
nothing: Django's admin writes every field of the form, as the page showed them."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts import services
from accounts.models import User
from accounts.tests.factories import UserFactory
from common.tests.helpers import admin_form_as_sent, database_state

pytestmark = pytest.mark.django_db


def test_a_page_opened_before_a_user_was_deactivated_does_not_activate_them_again(
    staff_browser,
):
    """Staff open a customer's page; a colleague deactivates the customer (fraud, say);
    staff, still on the page, correct the address and save. The page sent "active" as it
    showed it, and the customer could sign in again."""
    customer = UserFactory(email="old@example.com")
    change_url = reverse("admin:accounts_user_change", args=[customer.pk])
    page = staff_browser.get(change_url)
    services.users_deactivate(queryset=User.objects.filter(pk=customer.pk))
    state = database_state()

    response = staff_browser.post(
        change_url, {**admin_form_as_sent(page), "email": "new@example.com"}
    )

    customer.refresh_from_db()
    assert (customer.is_active, customer.email) == (False, "old@example.com")
    assert database_state() == state
    assert (response.status_code, response["Location"]) == (302, change_url)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Nothing was saved: old@example.com was changed by someone else since you opened the "
        "page. The page shows the user as they are now; make your change again."
    ]


def test_a_page_opened_at_the_users_current_state_saves(staff_browser):
    customer = UserFactory(email="old@example.com")
    change_url = reverse("admin:accounts_user_change", args=[customer.pk])
    page = staff_browser.get(change_url)

    response = staff_browser.post(
        change_url, {**admin_form_as_sent(page), "email": "new@example.com"}
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.is_active, customer.email) == (True, "new@example.com")
