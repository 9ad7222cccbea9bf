"""A staff member's own user page: they cannot deactivate themselves there either. The list's
Deactivate action always left them out (it says "Deactivated 0 user(s)"), but unticking
"Active" on their own page deactivated them: signed out of the admin at once for good (the
database ends their sessions), and the only superuser left nobody to activate them again."""

import pytest
from django.urls import reverse

from accounts.models import User
from common.tests.helpers import admin_form_as_sent

pytestmark = pytest.mark.django_db


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


def test_staff_still_deactivate_another_user_on_their_page(staff_browser):
    other = User.objects.create_user(email="other@example.com")
    url = reverse("admin:accounts_user_change", args=[other.pk])
    form = admin_form_as_sent(staff_browser.get(url))
    form.pop("is_active", None)

    assert staff_browser.post(url, form).status_code == 302
    assert not User.objects.get(pk=other.pk).is_active
