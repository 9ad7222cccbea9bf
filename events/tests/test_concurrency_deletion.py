"""Alerts and endpoint changes under real concurrency on PostgreSQL, each thread with its
own connection."""

import threading

import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.test import RequestFactory
from django.urls import reverse

from accounts.tests.factories import UserFactory
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, timeouts, wait_until
from events import services as event_services
from events.admin import WebhookEndpointAdmin
from events.models import Delivery, Event, WebhookEndpoint
from events.services import deletion
from events.tests.concurrency_helpers import _in_thread, _recording_beside, _two_pending
from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


def _admin_delete(endpoint_id) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    WebhookEndpointAdmin(WebhookEndpoint, admin.site).delete_queryset(request, endpoints)


@pytest.mark.parametrize(
    "delete",
    [lambda endpoint_id: event_services.endpoint_delete(endpoint_id=endpoint_id), _admin_delete],
    ids=["api", "admin"],
)
def test_deleting_an_endpoint_while_an_attempt_is_recorded_finishes_both(loopback, delete):
    """Deleting removed the deliveries, then the endpoint: the reverse of the order recording
    takes them in, so the two deadlocked as turning off did."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=True)

    outcomes = _recording_beside(lambda: delete(endpoint.pk), recorded, other)

    assert outcomes == {"change": None, "record": None}
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()


def test_a_debit_whose_event_goes_to_an_endpoint_being_deleted_commits(loopback, settings):
    """The debit's event had a delivery for the endpoint, checked against it only as the
    debit committed (Django's foreign keys are deferred): the endpoint's deletion committed
    in between, and the debit failed with an IntegrityError (the user's usage a 500, a
    capture's webhook refused) for a staff member's unrelated change."""
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)
    endpoint = event_services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["tokens.low_balance"]
    )
    emitted, go = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def debit() -> int:
        with transaction.atomic():
            entry = services.tokens_debit(user_id=user.pk, amount=60)
            emitted.set()
            go.wait(10)
        return entry.balance_after

    debiting = _in_thread(outcomes, "debit", debit)
    assert emitted.wait(10)
    deleting = _in_thread(
        outcomes, "delete", lambda: event_services.endpoint_delete(endpoint_id=endpoint.pk)
    )
    wait_until(lambda: "delete" in outcomes or sessions_waiting_on_a_lock() >= 1)
    go.set()
    debiting.join()
    deleting.join()

    assert outcomes == {"debit": 90, "delete": None}
    assert not WebhookEndpoint.objects.exists()
    assert Event.objects.filter(type="tokens.low_balance").count() == 1


def _admin_page_delete(client, endpoint_id) -> int:
    page = reverse("admin:events_webhookendpoint_delete", args=[endpoint_id])
    return client.post(page, {"post": "yes"}).status_code


@pytest.mark.parametrize("through", ["api", "admin"])
def test_a_debit_emitting_to_an_endpoint_being_deleted_does_not_wait_for_the_deletion(
    loopback, settings, monkeypatch, staff_browser, through
):
    """Deleting an endpoint held it locked until its last delivery was gone (5 s for 300,000
    of them): a debit emitting an event it wanted waited for the lock, and failed past the
    lock timeout (the user's usage a 500, a capture's webhook refused). The deletion turns
    the endpoint off first, then empties it in batches: emitting passes it by at once. Here
    the deletion is held up at its last batch (a delivery another transaction holds), the
    debit runs with the usual lock timeout (3 s)."""
    monkeypatch.setattr("events.services.deletion.ENDPOINT_DELETE_BATCH", 2)
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)
    endpoint = event_services.endpoint_create(
        url="http://127.0.0.1:9/hooks", event_types=["tokens.low_balance"]
    )
    deliveries = [
        Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint, status="succeeded"
        )
        for _ in range(5)
    ]
    last = max(delivery.pk for delivery in deliveries)
    outcomes: dict[str, object] = {}

    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [last]):
        with timeouts(lock_ms=60_000, statement_ms=60_000):  # the debit's lock timeout first
            deleting = _in_thread(
                outcomes,
                "delete",
                lambda: (
                    event_services.endpoint_delete(endpoint_id=endpoint.pk)
                    if through == "api"
                    else _admin_page_delete(staff_browser, endpoint.pk)
                ),
            )
            wait_until(lambda: "delete" in outcomes or sessions_waiting_on_a_lock() >= 1)
        debiting = _in_thread(
            outcomes,
            "debit",
            lambda: services.tokens_debit(user_id=user.pk, amount=60).balance_after,
        )
        debiting.join()
        during = (outcomes.copy(), list(Delivery.objects.values_list("pk", flat=True)))
    deleting.join()

    assert during[0] == {"debit": 90}
    assert during[1] == [last]
    assert outcomes["delete"] == (None if through == "api" else 302)
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert Event.objects.filter(type="tokens.low_balance").count() == 1


def test_an_interrupted_deletion_leaves_the_endpoint_off_and_deleting_again_finishes_it(
    loopback, staff_client, monkeypatch
):
    """Cancelled between batches (a deploy, a statement cancelled), the deletion has turned
    the endpoint off and removed some of its deliveries: GET shows it off, saying why, and
    DELETE again removes the rest."""
    monkeypatch.setattr("events.services.deletion.ENDPOINT_DELETE_BATCH", 2)
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    deliveries = [
        Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint, status="succeeded"
        )
        for _ in range(5)
    ]
    last = max(delivery.pk for delivery in deliveries)
    outcomes: dict[str, object] = {}
    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [last]):
        deleting = _in_thread(
            outcomes, "delete", lambda: event_services.endpoint_delete(endpoint_id=endpoint.pk)
        )
        wait_until(lambda: "delete" in outcomes or sessions_waiting_on_a_lock() >= 1)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        deleting.join()
    left = list(Delivery.objects.values_list("pk", flat=True))

    shown = staff_client.get(f"/api/v1/admin/webhook-endpoints/{endpoint.pk}")
    again = staff_client.delete(f"/api/v1/admin/webhook-endpoints/{endpoint.pk}")

    assert "canceling statement" in str(outcomes["delete"])
    assert left == [last]
    assert (shown.status_code, shown.json()["is_active"], shown.json()["disabled_reason"]) == (
        200,
        False,
        "The endpoint is being deleted.",
    )
    assert again.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()


def test_turning_on_an_endpoint_being_deleted_is_refused_and_the_deletion_finishes(
    loopback, staff_client, monkeypatch
):
    """PATCH {"is_active": true} between two batches of a deletion answered 200 with the
    endpoint on, and the deletion went on and removed it a moment later: staff were told it
    was kept and it was gone (with what it was sent meanwhile). An endpoint being deleted
    is refused, 409 `invalid_state`, and its deletion finishes. Here the deletion's thread
    waits after its first batch."""
    monkeypatch.setattr("events.services.deletion.ENDPOINT_DELETE_BATCH", 2)
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    for _ in range(5):
        Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint, status="succeeded"
        )
    between, go = threading.Event(), threading.Event()
    batch = deletion._a_batch_deleted

    def batch_then_wait(endpoint_id) -> bool:
        deleted = batch(endpoint_id)
        if not between.is_set():
            between.set()
            go.wait(10)
        return deleted

    monkeypatch.setattr("events.services.deletion._a_batch_deleted", batch_then_wait)
    outcomes: dict[str, object] = {}
    deleting = _in_thread(
        outcomes, "delete", lambda: event_services.endpoint_delete(endpoint_id=endpoint.pk)
    )
    assert between.wait(10)
    turned_on = staff_client.patch(
        f"/api/v1/admin/webhook-endpoints/{endpoint.pk}", {"is_active": True}, format="json"
    )
    go.set()
    deleting.join()

    assert (turned_on.status_code, turned_on.json()) == (
        409,
        {
            "error": "The endpoint is being deleted; delete it again to finish.",
            "code": "invalid_state",
        },
    )
    assert outcomes == {"delete": None}
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
