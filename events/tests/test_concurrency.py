"""Alerts and endpoint changes under real concurrency on PostgreSQL, each thread with its
own connection."""

import threading
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.db import connection, connections, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from common.tests.concurrency import run_together
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, timeouts, wait_until
from events import dispatch
from events import services as event_services
from events.admin import WebhookEndpointAdmin
from events.dispatch import Outcome
from events.models import Delivery, Event, WebhookEndpoint
from events.services import deletion
from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]


@pytest.mark.sqlite
def test_a_threshold_crossed_by_50_concurrent_debits_fires_exactly_once(settings):
    settings.LOW_BALANCE_THRESHOLD = 100
    user = UserFactory()
    fund(user, 150)

    outcomes = run_together(
        [lambda: services.tokens_debit(user_id=user.pk, amount=2)] * 50, workers=10
    )

    assert not [o for o in outcomes if isinstance(o, Exception)]
    alerts = Event.objects.filter(type="tokens.low_balance", data__user_id=str(user.pk))
    assert alerts.count() == 1
    assert alerts.get().data["balance"] == 98


def _two_pending(endpoint, *, recorded_first: bool) -> tuple[Delivery, Delivery]:
    """Two pending deliveries of `endpoint`, the one whose failed attempt is recorded and one
    other, in the order a statement over both takes them."""
    first, second = (
        Delivery.objects.create(event=Event.objects.create(type="ping", data={}), endpoint=endpoint)
        for _ in range(2)
    )
    return (first, second) if recorded_first else (second, first)


def _in_thread(outcomes: dict, name: str, work) -> threading.Thread:
    def run() -> None:
        try:
            outcomes[name] = work()
        except Exception as error:  # the test reports whatever the work raised
            outcomes[name] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _recording_beside(change, recorded, other) -> dict:
    """`change` starts while another transaction holds `other`, so it waits after taking
    what it takes first; the attempt on `recorded` is then recorded beside it."""
    outcomes: dict[str, object] = {}
    failed = Outcome(status_code=503, duration_ms=3, error="HTTP 503")
    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [other.pk]):
        changing = _in_thread(outcomes, "change", change)
        wait_until(lambda: "change" in outcomes or sessions_waiting_on_a_lock() >= 1)
        recording = _in_thread(
            outcomes,
            "record",
            lambda: dispatch.deliveries_record([(recorded.pk, failed)], now=timezone.now()),
        )
        wait_until(lambda: sessions_waiting_on_a_lock() >= 2 or "record" in outcomes)
    changing.join()
    recording.join()
    return outcomes


def test_turning_an_endpoint_off_while_an_attempt_is_recorded_finishes_both(loopback):
    """Turning off locked the endpoint, then its pending deliveries; recording locked the
    delivery, then the endpoint (to mark it failing). Held up between its two locks,
    turning off waited for the delivery recording held, which waited for the endpoint:
    PostgreSQL aborted one of them (the staff's PATCH answered 500, or the batch was lost)."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=False)

    outcomes = _recording_beside(
        lambda: event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active,
        recorded,
        other,
    )

    assert outcomes == {"change": False, "record": None}
    assert set(Delivery.objects.values_list("status", "last_error")) == {
        ("failed", "The endpoint was turned off.")
    }


def test_a_new_url_while_an_attempt_is_recorded_finishes_both(loopback):
    """A new URL brings the endpoint's waiting deliveries forward after locking it, in the
    order recording takes them (the endpoint, then its deliveries): neither is aborted."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    recorded, other = _two_pending(endpoint, recorded_first=False)
    later = timezone.now() + timedelta(hours=12)
    Delivery.objects.update(next_attempt_at=later)

    outcomes = _recording_beside(
        lambda: (
            event_services.endpoint_update(
                endpoint_id=endpoint.pk, url="http://127.0.0.1:9/fixed"
            ).url
        ),
        recorded,
        other,
    )

    assert outcomes == {"change": "http://127.0.0.1:9/fixed", "record": None}
    assert Delivery.objects.get(pk=other.pk).next_attempt_at < later
    assert Delivery.objects.get(pk=recorded.pk).attempts == 1


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


def test_an_event_emitted_while_its_endpoint_is_turned_off_is_not_sent_once_it_is_on(
    loopback, settings
):
    """Turning an endpoint off gives up its pending deliveries, so that on again it gets new
    events only (docs/api.md); a delivery written by a change still open then was not among
    them, stayed pending, and went out as an old event once the endpoint was on again."""
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

    def turn_off() -> bool:
        return event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active

    debiting = _in_thread(outcomes, "debit", debit)
    assert emitted.wait(10)
    turning_off = _in_thread(outcomes, "off", turn_off)
    wait_until(lambda: "off" in outcomes or sessions_waiting_on_a_lock() >= 1)
    go.set()
    debiting.join()
    turning_off.join()
    event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)

    assert outcomes == {"debit": 90, "off": False}
    assert list(Delivery.objects.values_list("status", flat=True)) == ["failed"]


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


def test_an_event_resent_while_its_endpoint_is_turned_off_is_not_sent_once_it_is_on(loopback):
    """Resend read which endpoints were on as its statement began, and put their deliveries
    back on their way without locking them: an endpoint turned off meanwhile (its pending
    deliveries given up) kept the resent one pending, and it went out as an old event once
    the endpoint was on again, where turning it off promises new events only (docs/api.md).
    Here the resend is held up on its delivery (another transaction holds it) after it has
    read the endpoint as on."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    event = Event.objects.create(type="ping", data={})
    delivery = Delivery.objects.create(event=event, endpoint=endpoint, status="succeeded")
    outcomes: dict[str, object] = {}

    def turn_off() -> bool:
        return event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=False).is_active

    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [delivery.pk]):
        resending = _in_thread(
            outcomes, "resend", lambda: event_services.event_resend(event_id=event.pk)
        )
        wait_until(lambda: "resend" in outcomes or sessions_waiting_on_a_lock() >= 1)
        turning_off = _in_thread(outcomes, "off", turn_off)
        wait_until(lambda: "off" in outcomes or sessions_waiting_on_a_lock() >= 2)
    resending.join()
    turning_off.join()
    event_services.endpoint_update(endpoint_id=endpoint.pk, is_active=True)

    assert outcomes == {"resend": 1, "off": False}
    assert list(Delivery.objects.values_list("status", "last_error")) == [
        ("failed", "The endpoint was turned off.")
    ]


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


def _admin_page_delete_followed(client, endpoint_id):
    page = reverse("admin:events_webhookendpoint_delete", args=[endpoint_id])
    answer = client.post(page, {"post": "yes"}, follow=True)
    shown = answer.context["messages"] if answer.context and "messages" in answer.context else []
    said = [str(message) for message in shown]
    return answer.status_code, [url for url, _ in answer.redirect_chain], said


def test_an_endpoint_the_database_is_too_busy_to_delete_from_its_page_is_left_as_it_was(
    loopback, staff_browser
):
    """The admin's deletion runs after the page's transaction: a lock held past the lock
    timeout there (a stuck transaction holding the endpoint) was the busy page's "nothing
    was done", after Django had committed a log entry saying the endpoint was deleted. Now
    the endpoint's page again, saying nothing was changed, and nothing logged."""
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    change = reverse("admin:events_webhookendpoint_change", args=[endpoint.pk])

    sql = "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE"
    with row_locked(sql, [endpoint.pk]), timeouts(lock_ms=200, statement_ms=60_000):
        answered = _admin_page_delete_followed(staff_browser, endpoint.pk)

    assert answered == (
        200,
        [change],
        [
            "“http://127.0.0.1:9/hooks” was not deleted: the database was busy, nothing was "
            "changed. Try again in 3 seconds."
        ],
    )
    assert list(WebhookEndpoint.objects.values_list("is_active", "disabled_reason")) == [(True, "")]
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_an_endpoint_the_database_is_too_busy_to_finish_deleting_says_so_and_again_finishes(
    loopback, staff_browser, monkeypatch
):
    """Held up at a later batch, the deletion has turned the endpoint off and removed some
    of its deliveries: the page says so, and deleting it again finishes it, logged once."""
    monkeypatch.setattr("events.services.deletion.ENDPOINT_DELETE_BATCH", 2)
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/hooks", event_types=["ping"])
    deliveries = [
        Delivery.objects.create(
            event=Event.objects.create(type="ping", data={}), endpoint=endpoint, status="succeeded"
        )
        for _ in range(5)
    ]
    last = max(delivery.pk for delivery in deliveries)
    change = reverse("admin:events_webhookendpoint_change", args=[endpoint.pk])

    sql = "SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE"
    with row_locked(sql, [last]), timeouts(lock_ms=200, statement_ms=60_000):
        held_up = _admin_page_delete_followed(staff_browser, endpoint.pk)
    left = list(WebhookEndpoint.objects.values_list("is_active", "disabled_reason"))
    again = _admin_page_delete_followed(staff_browser, endpoint.pk)

    assert held_up == (
        200,
        [change],
        [
            "“http://127.0.0.1:9/hooks” is turned off and partly deleted: the database was "
            "busy. Delete it again to finish."
        ],
    )
    assert left == [(False, "The endpoint is being deleted.")]
    assert again == (
        200,
        [reverse("admin:events_webhookendpoint_changelist")],
        ["The webhook endpoint “http://127.0.0.1:9/hooks” was deleted successfully."],
    )
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 1
