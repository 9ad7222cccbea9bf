"""Webhooks in the admin: an event's page lists its deliveries within a query budget."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from events import services
from events.models import Event

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
