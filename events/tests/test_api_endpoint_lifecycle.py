"""Staff's webhook endpoints and the user's alert threshold over the API."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from common.tests.helpers import database_state
from events import services
from events.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from events.tests.api_helpers import ENDPOINTS

pytestmark = pytest.mark.django_db


def test_staff_create_an_endpoint_and_see_its_secret_once(staff_client, public_dns):
    response = staff_client.post(
        ENDPOINTS,
        {"url": "https://hooks.example.com/billing", "event_types": ["invoice.paid", "ping"]},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith("whsec_")
    Webhook(body["secret"])
    assert (body["event_types"], body["is_active"]) == (["invoice.paid", "ping"], True)
    shown = staff_client.get(f"{ENDPOINTS}/{body['id']}").json()
    assert "secret" not in shown
    assert staff_client.get(ENDPOINTS).json()["total"] == 1


def test_answers_that_carry_a_secret_are_kept_by_no_cache(staff_client, public_dns):
    """A browser's or a proxy's cache kept the signing secret of a new or rotated endpoint."""
    body = {"url": "https://hooks.example.com/billing", "event_types": ["ping"]}
    made = staff_client.post(ENDPOINTS, body, HTTP_IDEMPOTENCY_KEY="e1")
    replayed = staff_client.post(ENDPOINTS, body, HTTP_IDEMPOTENCY_KEY="e1")
    rotated = staff_client.post(f"{ENDPOINTS}/{made.json()['id']}/rotate-secret")

    assert [answer.status_code for answer in (made, replayed, rotated)] == [201, 201, 200]
    assert [
        "no-store" in answer.get("Cache-Control", "") for answer in (made, replayed, rotated)
    ] == [True, True, True]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "http://hooks.example.com/x"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://[::1"}, "url"),
        ({"url": "https://internal.example.com/x"}, "url"),
        ({"url": "https://127.0.0.1/x"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": None}, "url"),
        ({"event_types": ["invoice.misplaced"]}, "event_types"),
        ({"event_types": "invoice.paid"}, "event_types"),
        ({"event_types": []}, "event_types"),
    ],
)
def test_a_bad_endpoint_is_400_naming_the_field_and_stores_nothing(
    staff_client, public_dns, body, field
):
    before = database_state()
    payload = {"url": "https://hooks.example.com/x", "event_types": ["ping"], **body}
    payload = {key: value for key, value in payload.items() if value is not None}

    response = staff_client.post(ENDPOINTS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert database_state() == before


def test_change_rotate_ping_list_attempts_resend_and_delete(staff_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    made = staff_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x", "event_types": ["ping"]})
    url = f"{ENDPOINTS}/{made.json()['id']}"

    changed = staff_client.patch(url, {"event_types": ["invoice.paid"], "is_active": False})
    rotated = staff_client.post(f"{url}/rotate-secret")
    staff_client.patch(url, {"is_active": True})
    pinged = staff_client.post(f"{url}/test")
    attempts = staff_client.get(f"{url}/deliveries")
    event = Event.objects.get(type="ping")
    resent = staff_client.post(f"/api/v1/admin/webhook-events/{event.pk}/resend")
    deleted = staff_client.delete(url)

    assert (changed.json()["event_types"], changed.json()["is_active"]) == (["invoice.paid"], False)
    assert rotated.json()["secret"] != made.json()["secret"]
    assert pinged.status_code == 202
    assert attempts.json()["total"] == 0
    assert (resent.status_code, resent.json()["deliveries"]) == (202, 1)
    assert deleted.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert not Delivery.objects.exists()


def test_turning_an_endpoint_off_gives_up_its_pending_deliveries(staff_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    made = staff_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x", "event_types": ["ping"]})
    url = f"{ENDPOINTS}/{made.json()['id']}"
    with transaction.atomic():
        services.events_emit([services.Notice("ping", {"n": n}) for n in range(3)])

    turned_off = staff_client.patch(url, {"is_active": False})
    turned_on = staff_client.patch(url, {"is_active": True})

    assert (turned_off.status_code, turned_off.json()["is_active"]) == (200, False)
    assert (turned_on.status_code, turned_on.json()["is_active"]) == (200, True)
    assert list(Delivery.objects.values_list("status", "last_error").distinct()) == [
        ("failed", "The endpoint was turned off.")
    ]


def test_an_endpoint_with_more_deliveries_than_a_statement_takes_parameters_is_deleted(
    staff_client,
):
    """Django's delete loaded every delivery's id and sent them all in one `IN (...)`: past
    65,535 (a month of a busy endpoint's deliveries), PostgreSQL refused the statement and
    the DELETE was a 500, whatever staff did."""
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/x", event_types="|")
    count = 66_000
    with connection.cursor() as cursor:  # PostgreSQL's own: a second, not a minute
        # The test's transaction ends with Django checking the deferred foreign keys of these
        # 200,000 rows in one statement: under a full suite's load it once ran past the 15 s
        # statement timeout, which this test is not about (it ends with the transaction).
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(
            f"""
            WITH events AS (
                INSERT INTO {Event._meta.db_table} (id, type, data, created_at)
                SELECT gen_random_uuid(), 'ping', '{{}}', now() FROM generate_series(1, %s)
                RETURNING id
            ), deliveries AS (
                INSERT INTO {Delivery._meta.db_table} (event_id, endpoint_id, status,
                    attempts, next_attempt_at, last_error, created_at)
                SELECT id, %s, 'succeeded', 1, now(), '', now() FROM events RETURNING id
            )
            INSERT INTO {DeliveryAttempt._meta.db_table} (delivery_id, attempt, status_code,
                duration_ms, error, created_at)
            SELECT id, 1, 200, 5, '', now() FROM deliveries
            """,  # noqa: S608 (the models' tables)
            [count, endpoint.pk],
        )

    deleted = staff_client.delete(f"{ENDPOINTS}/{endpoint.pk}")

    assert deleted.status_code == 204
    assert (WebhookEndpoint.objects.count(), Delivery.objects.count()) == (0, 0)
    assert (DeliveryAttempt.objects.count(), Event.objects.count()) == (0, count)


def test_users_cannot_touch_endpoints(user_client):
    before = database_state()

    response = user_client.post(ENDPOINTS, {"url": "https://x.example/", "event_types": ["ping"]})

    assert response.status_code == 403
    assert database_state() == before


def test_unknown_endpoints_and_events_are_404(staff_client):
    missing = "00000000-0000-0000-0000-000000000000"

    responses = [
        staff_client.get(f"{ENDPOINTS}/{missing}"),
        staff_client.post(f"{ENDPOINTS}/{missing}/rotate-secret"),
        staff_client.get(f"{ENDPOINTS}/{missing}/deliveries"),
        staff_client.post(f"/api/v1/admin/webhook-events/{missing}/resend"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]


def test_turning_on_an_endpoint_already_on_keeps_its_failure_clock(staff_client, settings):
    """Only turning an endpoint on from off forgets its failures: `is_active: true` sent to
    one already on restarted the clock, so sending it again every few days kept a failing
    endpoint from ever being turned off after 5 days."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    made = staff_client.post(ENDPOINTS, {"url": "http://127.0.0.1:9/x", "event_types": ["ping"]})
    failing_since = timezone.now() - timedelta(days=4)
    WebhookEndpoint.objects.update(failing_since=failing_since)

    again = staff_client.patch(f"{ENDPOINTS}/{made.json()['id']}", {"is_active": True})

    assert (again.status_code, again.json()["is_active"]) == (200, True)
    assert WebhookEndpoint.objects.get().failing_since == failing_since


def test_a_test_ping_to_an_endpoint_being_deleted_is_refused_and_queues_nothing(
    staff_client, settings
):
    """An endpoint whose deletion was interrupted (or is between two batches) is off for
    good: it cannot be turned on again, and deleting it again removes it. A test ping to it
    answered 202 `{deliveries: 1}` and queued a delivery that could never be sent, so staff
    waited for a ping that was never coming. It is 409 `invalid_state`, as turning it on is,
    and queues nothing; an endpoint merely off still takes one (it waits until it is on)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    deleting, off = (
        staff_client.post(ENDPOINTS, {"url": f"http://127.0.0.1:9/{n}", "event_types": ["ping"]})
        for n in range(2)
    )
    WebhookEndpoint.objects.filter(pk=deleting.json()["id"]).update(
        is_active=False, disabled_reason="The endpoint is being deleted."
    )
    staff_client.patch(f"{ENDPOINTS}/{off.json()['id']}", {"is_active": False})
    before = database_state()

    refused = staff_client.post(f"{ENDPOINTS}/{deleting.json()['id']}/test")

    assert (refused.status_code, refused.json()) == (
        409,
        {
            "error": "The endpoint is being deleted; a test would never be sent. "
            "Delete it again to finish.",
            "code": "invalid_state",
        },
    )
    assert database_state() == before
    queued = staff_client.post(f"{ENDPOINTS}/{off.json()['id']}/test")
    assert (queued.status_code, queued.json()["deliveries"]) == (202, 1)
