"""The event admin's "Resend" of many events at once (a whole filtered list, after an outage):
it ran a transaction of five statements per event in one request, 50,000 statements for
10,000 events, past gunicorn's 30 s; the worker was killed part way, staff saw an error
page and no word of what had been resent, and resending again sent the first part twice.
Now it resends RESEND_BATCH events per transaction in a fixed number of statements, and at
most RESEND_MOST from one request (a few seconds), refusing more before it does anything."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from events import services
from events.models import Delivery, Event

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

# The request's own (the session, the staff member, the selection) and its one batch's.
MOST_QUERIES = 16


@pytest.fixture
def delivered(loopback):
    """`count` events, pings and invoice.paid in turn, each delivered to the endpoints that
    subscribe to it (one for pings, two for invoice.paid), and to two that do not: one that
    took invoice.paid but dropped it, and the pings' one, given an invoice.paid before a
    change of its types. Neither is sent it again."""

    def emitted(count: int) -> list:
        pings = services.endpoint_create(url="http://127.0.0.1:9/a", event_types=["ping"])
        services.endpoint_create(url="http://127.0.0.1:9/b", event_types=["invoice.paid"])
        services.endpoint_create(url="http://127.0.0.1:9/c", event_types=["invoice.paid"])
        dropped = services.endpoint_create(url="http://127.0.0.1:9/d", event_types=["lot.expired"])
        services.endpoint_update(endpoint_id=dropped.pk, event_types=["invoice.paid"])
        with transaction.atomic():
            services.events_emit(
                [
                    services.Notice("invoice.paid" if n % 2 else "ping", {"n": n})
                    for n in range(count)
                ]
            )
        paid = Event.objects.filter(type="invoice.paid").first()
        if paid is not None:
            Delivery.objects.create(event=paid, endpoint=pings)
        Delivery.objects.update(status=Delivery.Status.SUCCEEDED, completed_at=timezone.now())
        services.endpoint_update(endpoint_id=dropped.pk, event_types=["lot.expired"])
        return list(Event.objects.values_list("pk", flat=True))

    return emitted


def resend_every_event(staff_browser):
    return staff_browser.post(
        reverse("admin:events_event_changelist"),
        {
            "action": "resend",
            "select_across": "1",
            "index": "0",
            "_selected_action": [str(Event.objects.values_list("pk", flat=True).first())],
        },
    )


@pytest.mark.parametrize("count", [1, 3, 60])
def test_resending_every_event_takes_the_same_statements_however_many(
    staff_browser, delivered, count, django_assert_max_num_queries
):
    events = delivered(count)

    with django_assert_max_num_queries(MOST_QUERIES):
        response = resend_every_event(staff_browser)

    pings, paid = count - count // 2, count // 2
    assert response.status_code == 302
    # A ping to its endpoint, an invoice.paid to the two that want it.
    assert Delivery.objects.filter(status="pending").count() == pings + 2 * paid
    said = [str(message) for message in staff_browser.get(response.url).context["messages"]]
    assert said == [f"{pings + 2 * paid} deliveries queued again."]
    # Each event's History says so, as for one resent alone.
    history = LogEntry.objects.filter(object_id__in=[str(pk) for pk in events])
    assert sorted(history.values_list("change_message", flat=True)) == sorted(
        ["Resent: 1 queued."] * pings + ["Resent: 2 queued."] * paid
    )


def test_resending_more_events_than_a_request_can_take_resends_none_and_says_so(
    staff_browser, delivered, monkeypatch
):
    monkeypatch.setattr("events.admin.records.RESEND_MOST", 2)
    delivered(3)
    before = list(Delivery.objects.order_by("pk").values_list("pk", "status"))

    response = resend_every_event(staff_browser)

    said = [str(message) for message in staff_browser.get(response.url).context["messages"]]
    assert said == [
        "More than 2 events selected: nothing was resent. Narrow the list by its filters"
        " (type, date) and resend each part."
    ]
    assert list(Delivery.objects.order_by("pk").values_list("pk", "status")) == before


def test_resending_events_some_of_which_go_to_no_endpoint_now_says_how_many(
    staff_browser, loopback
):
    """An event whose endpoints are all off is resent to none: the count of deliveries alone
    ("1 deliveries queued again.") read as every selected event resent."""
    services.endpoint_create(url="http://127.0.0.1:9/pings", event_types=["ping"])
    off = services.endpoint_create(url="http://127.0.0.1:9/paid", event_types=["invoice.paid"])
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {}), services.Notice("invoice.paid", {})])
    Delivery.objects.update(status=Delivery.Status.SUCCEEDED, completed_at=timezone.now())
    services.endpoint_update(endpoint_id=off.pk, is_active=False)

    response = resend_every_event(staff_browser)

    said = [str(message) for message in staff_browser.get(response.url).context["messages"]]
    assert said == [
        "1 deliveries queued again.",
        "1 of the selected events were resent to no endpoint: none that they were sent to is"
        " on and still takes their type.",
    ]
    assert dict(Delivery.objects.values_list("event__type", "status")) == {
        "ping": Delivery.Status.PENDING,
        "invoice.paid": Delivery.Status.SUCCEEDED,
    }
