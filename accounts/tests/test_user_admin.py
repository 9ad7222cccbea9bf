"""Staff deactivate users in the admin; nobody deletes one there."""

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import UserFactory

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
