"""A user's admin page saved as the user is deleted (with psql or a shell: the admin deletes
none), on PostgreSQL with a real thread and its own connection: the deletion lands after the
admin has read the user and before it writes. Answered as every change page answers a row
deleted meanwhile (common.admin.ModelAdmin), never with a 500."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.admin.users import UserAdmin
from accounts.models import User
from accounts.tests.deactivation import delete_on_another_connection
from accounts.tests.factories import UserFactory
from common.tests.helpers import admin_form_as_sent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("as_sent", ["by a browser", "without the page's state"])
def test_a_user_saved_as_they_are_deleted_is_a_message(staff_browser, monkeypatch, as_sent):
    """Without the page's state (a hand-made POST) the save wrote to no row: a 500. With it,
    staff read that the user was changed by someone else and to make their change again."""
    customer = UserFactory(email="before@example.com")
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    form = {**admin_form_as_sent(staff_browser.get(url)), "email": "after@example.com"}
    if as_sent != "by a browser":
        form.pop("read_state")
    read = UserAdmin.get_object

    def read_then_deleted(self, request, object_id, from_field=None):
        user = read(self, request, object_id, from_field)
        delete_on_another_connection(customer.pk)
        return user

    monkeypatch.setattr(UserAdmin, "get_object", read_then_deleted)
    staff_browser.raise_request_exception = False

    page = staff_browser.post(url, form)

    assert page.status_code == 302
    assert page["Location"] == reverse("admin:accounts_user_changelist")
    assert [str(m) for m in get_messages(page.wsgi_request)] == [
        "This user was deleted meanwhile: nothing was saved."
    ]
    assert not User.objects.filter(email__in=["before@example.com", "after@example.com"]).exists()
