"""Webhooks in the admin: an event's page lists its deliveries within a query budget."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import transaction
from django.urls import reverse

from events import services
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_an_event_delivered_to_many_endpoints_shows_them_in_a_few_queries(
    staff_browser, settings, django_assert_max_num_queries
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    for n in range(30):
        services.endpoint_create(url=f"https://hooks{n}.example.com/in", event_types=["ping"])
    with transaction.atomic():
        (event_id,) = services.events_emit([services.Notice(type="ping", data={})])
    url = reverse("admin:events_event_change", args=[event_id])

    with django_assert_max_num_queries(12):
        response = staff_browser.get(url)

    assert response.status_code == 200
    assert Event.objects.get(pk=event_id).deliveries.count() == 30
    assert "https://hooks29.example.com/in" in response.content.decode()


def test_turn_on_passes_by_an_endpoint_being_deleted_and_says_so(staff_browser, settings):
    """An interrupted deletion leaves the endpoint off, partly emptied, its deletion to be
    finished by deleting it again; Turn on again put it back on, half its deliveries gone,
    until the deletion was sent again and removed it whatever it was."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    deleting, off = (
        services.endpoint_create(url=f"https://hooks{n}.example.com/in", event_types=["ping"])
        for n in range(2)
    )
    WebhookEndpoint.objects.filter(pk=deleting.pk).update(
        is_active=False, disabled_reason="The endpoint is being deleted."
    )
    services.endpoint_update(endpoint_id=off.pk, is_active=False)

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {"action": "turn_on", "_selected_action": [deleting.pk, off.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "Turned on.",
        "Not turned on: https://hooks0.example.com/in: The endpoint is being deleted; "
        "delete it again to finish.",
    ]
    assert dict(WebhookEndpoint.objects.values_list("url", "is_active")) == {
        "https://hooks0.example.com/in": False,
        "https://hooks1.example.com/in": True,
    }


def test_an_endpoint_that_was_sent_attempts_can_be_deleted_from_its_page(
    staff_browser, settings, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    """Django's delete page collected every delivery and attempt of the endpoint, and asked
    for the permission to delete delivery attempts, whose admin is read-only: every endpoint
    that had ever been sent an attempt was 'Cannot delete', its deletion 403, superusers
    included, and a busy one's page loaded each of its deliveries and attempts."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = services.endpoint_create(url="https://hooks.example.com/in", event_types=["ping"])
    for _ in range(30):
        delivery = Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint
        )
        DeliveryAttempt.objects.create(delivery=delivery, attempt=1, duration_ms=5)
    page = reverse("admin:events_webhookendpoint_delete", args=[endpoint.pk])

    with django_assert_max_num_queries(10):
        shown = staff_browser.get(page)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = staff_browser.post(page, {"post": "yes"})

    assert "Cannot delete" not in shown.content.decode()
    assert "Deliveries: 30" in shown.content.decode()
    assert "Delivery attempts: 30" in shown.content.decode()
    assert deleted.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert not DeliveryAttempt.objects.exists()


def test_send_a_test_ping_passes_by_an_endpoint_being_deleted_and_says_so(staff_browser, settings):
    """'Ping queued.' for an endpoint whose deletion was interrupted: its ping could never
    be sent (it cannot be turned on again)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    deleting, on = (
        services.endpoint_create(url=f"https://hooks{n}.example.com/in", event_types=["ping"])
        for n in range(2)
    )
    WebhookEndpoint.objects.filter(pk=deleting.pk).update(
        is_active=False, disabled_reason="The endpoint is being deleted."
    )

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_changelist"),
        {"action": "ping", "_selected_action": [deleting.pk, on.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "Ping queued.",
        "Not queued: https://hooks0.example.com/in: The endpoint is being deleted; a test "
        "would never be sent. Delete it again to finish.",
    ]
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [on.pk]


def test_a_description_is_trimmed_of_invisible_characters_as_the_api_trims_it(
    staff_browser, settings
):
    """The admin stripped whitespace only: a description pasted with a zero-width space
    kept it, and one of a zero-width space alone was saved as an empty-looking one, where
    the API stores the text trimmed (and that one blank)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoints = [
        services.endpoint_create(url=f"https://hooks{n}.example.com/in", event_types=["ping"])
        for n in range(2)
    ]

    for endpoint, description in zip(endpoints, ["\u200bOrders\u00ad ", "\u200b"], strict=True):
        response = staff_browser.post(
            reverse("admin:events_webhookendpoint_change", args=[endpoint.pk]),
            {"description": description},
        )
        assert response.status_code == 302

    assert [WebhookEndpoint.objects.get(pk=e.pk).description for e in endpoints] == ["Orders", ""]


def test_a_description_saved_after_the_endpoint_was_deleted_says_so(
    staff_browser, settings, monkeypatch
):
    """The page read the endpoint, then its deletion (another staff member, the API)
    finished before the save: the service's NotFound was a 500."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = services.endpoint_create(url="https://hooks.example.com/in", event_types=["ping"])
    model_admin = admin.site._registry[WebhookEndpoint]
    read = model_admin.get_object

    def read_then_delete_elsewhere(*args, **kwargs):
        found = read(*args, **kwargs)
        services.endpoint_delete(endpoint_id=endpoint.pk)
        return found

    monkeypatch.setattr(model_admin, "get_object", read_then_delete_elsewhere)

    response = staff_browser.post(
        reverse("admin:events_webhookendpoint_change", args=[endpoint.pk]),
        {"description": "Orders"},
    )

    assert (response.status_code, response["Location"]) == (
        302,
        reverse("admin:events_webhookendpoint_changelist"),
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "This webhook endpoint was deleted meanwhile: nothing was saved."
    ]
    assert not WebhookEndpoint.objects.filter(description="Orders").exists()
