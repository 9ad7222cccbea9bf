"""Two superusers saving the same group at once, on PostgreSQL with real threads, each with
its own connection: a page opened before the other's save commits writes nothing, because
the save compares what its page showed under the group's lock, after the other commits."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from common.tests.concurrency import meeting
from common.tests.helpers import admin_form_as_sent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_page_saved_while_another_takes_a_permission_away_does_not_give_it_back(
    staff_browser,
):
    support = Group.objects.create(name="Support")
    support.permissions.set(
        Permission.objects.filter(codename__in=["view_invoice", "change_invoice"])
    )
    change_url = reverse("admin:auth_group_change", args=[support.pk])
    page = staff_browser.get(change_url)

    def take_refunds_away() -> None:
        group = Group.objects.select_for_update().get(pk=support.pk)
        group.permissions.remove(Permission.objects.get(codename="change_invoice"))

    answers = meeting(
        take_refunds_away,
        lambda: staff_browser.post(change_url, {**admin_form_as_sent(page), "name": "Helpdesk"}),
    )

    assert not isinstance(answers["waiting"], Exception), answers["waiting"]
    assert (answers["waiting"].status_code, answers["waiting"]["Location"]) == (302, change_url)
    support.refresh_from_db()
    assert (support.name, list(support.permissions.values_list("codename", flat=True))) == (
        "Support",
        ["view_invoice"],
    )
