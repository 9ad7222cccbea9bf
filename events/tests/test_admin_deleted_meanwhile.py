"""An endpoint deleted in the admin after another session (staff member, the API) deleted
it: the admin's page had read it, and its deletion, run once the page's transaction
committed, found nothing. It counted as deleted: a second "Deleted" entry in the History,
by a staff member who deleted nothing, and "deleted successfully"."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, timeouts
from events import services
from events.models import WebhookEndpoint

pytestmark = [pytest.mark.django_db(transaction=True)]


def said(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def deleted_elsewhere(loopback, monkeypatch):
    """Two endpoints; once the admin has read what it is to delete (the page's list of it),
    another staff member deletes the first through the service (recorded in its History)."""
    other = UserFactory(is_staff=True)
    endpoints = [
        services.endpoint_create(url=f"http://127.0.0.1:9/hooks{n}", event_types=["ping"])
        for n in range(2)
    ]
    model_admin = admin.site._registry[WebhookEndpoint]
    listed = model_admin.get_deleted_objects

    def listed_then_deleted_elsewhere(objs, request):
        found = listed(objs, request)
        if request.POST.get("post"):
            services.endpoint_delete(endpoint_id=endpoints[0].pk, actor_id=other.pk)
        return found

    monkeypatch.setattr(model_admin, "get_deleted_objects", listed_then_deleted_elsewhere)
    return endpoints


def deletions(endpoint: WebhookEndpoint) -> int:
    return LogEntry.objects.filter(object_id=str(endpoint.pk), action_flag=DELETION).count()


def test_deleting_from_its_page_an_endpoint_deleted_meanwhile_says_so_and_logs_nothing(
    staff_browser, deleted_elsewhere
):
    gone, _ = deleted_elsewhere
    page = reverse("admin:events_webhookendpoint_delete", args=[gone.pk])

    response = staff_browser.post(page, {"post": "yes"}, follow=True)

    assert response.redirect_chain == [(reverse("admin:events_webhookendpoint_changelist"), 302)]
    assert said(response) == [
        "“http://127.0.0.1:9/hooks0” was already deleted by someone else: nothing was done."
    ]
    assert deletions(gone) == 1


def test_delete_selected_counts_only_what_it_deleted_and_names_what_was_gone(
    staff_browser, deleted_elsewhere
):
    gone, kept = deleted_elsewhere

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {"action": "delete_selected", "_selected_action": [gone.pk, kept.pk], "post": "yes"},
        follow=True,
    )

    assert said(response) == [
        "Deleted 1 webhook endpoints.",
        "“http://127.0.0.1:9/hooks0” was already deleted by someone else: nothing was done.",
    ]
    assert not WebhookEndpoint.objects.exists()
    assert (deletions(gone), deletions(kept)) == (1, 1)


def test_delete_selected_passes_by_an_endpoint_the_database_is_too_busy_for_and_says_so(
    loopback, staff_browser
):
    """The class's delete_selected, which answers a busy database, was not among its
    actions: the site's own ran, and the refusal was a 500."""
    busy, free = (
        services.endpoint_create(url=f"http://127.0.0.1:9/hooks{n}", event_types=["ping"])
        for n in range(2)
    )
    sql = "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE"

    with row_locked(sql, [busy.pk]), timeouts(lock_ms=200, statement_ms=60_000):
        response = staff_browser.post(
            reverse("admin:events_webhookendpoint_changelist"),
            {"action": "delete_selected", "_selected_action": [busy.pk, free.pk], "post": "yes"},
            follow=True,
        )

    assert said(response) == [
        "Deleted 1 webhook endpoints.",
        "“http://127.0.0.1:9/hooks0” was not deleted: the database was busy, nothing was "
        "changed. Try again in 3 seconds.",
    ]
    assert list(WebhookEndpoint.objects.values_list("pk", flat=True)) == [busy.pk]
    assert (deletions(busy), deletions(free)) == (0, 1)
