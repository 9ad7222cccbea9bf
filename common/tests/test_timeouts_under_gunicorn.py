"""Nothing waits forever: every statement runs under DB_LOCK_TIMEOUT and DB_STATEMENT_TIMEOUT,
directly and behind PgBouncer in transaction pooling, and a request the database gave up on
answers 503 `busy` with Retry-After and changes nothing.

The waits are made real: the test holds a row lock in its own connection, as a stuck
transaction would. Against gunicorn, a client timeout bounds how long an answer may take.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from billing.models import InvoiceSequence
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from common.tests.servers import gunicorn_routed, the_test_database, workers_waiting_on_a_lock
from common.tests.timeout_helpers import ACCOUNT_LOCK, BUSY, LOCK_TIMEOUT_SECONDS, SEQUENCE_LOCK
from common.tests.waits import row_locked, sessions_waiting_on_a_lock, wait_until
from conftest import client_for
from tokens.models import TokenAccount
from tokens.tests.factories import fund


@pytest.fixture(scope="module", params=["postgresql", "pgbouncer"])
def server(request, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), gunicorn_routed(request.param) as running:
        yield running


def consume(server, user, key: str, *, timeout: float):
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Idempotency-Key": key}
    return server.call(
        "POST", "/api/v1/user/tokens/consume", {"amount": 30}, headers=headers, timeout=timeout
    )


@pytest.mark.django_db(transaction=True)
def test_a_consume_behind_a_held_lock_answers_503_busy_then_its_retry_does_it_once(server):
    """It waits the lock timeout once (a second wait inside the idempotency replay would
    exceed the client's timeout), answers busy, and the retry with the same key does the
    work once the lock is gone."""
    user = UserFactory()
    fund(user, 100)
    before = database_state()

    with row_locked(ACCOUNT_LOCK, [user.pk]):
        status, headers, body = consume(server, user, "k1", timeout=LOCK_TIMEOUT_SECONDS + 2)
        during = database_state()
    retried = consume(server, user, "k1", timeout=2)

    assert (status, body) == (503, BUSY)
    assert headers["Retry-After"] == str(LOCK_TIMEOUT_SECONDS)
    assert during == before
    assert retried[0] == 201
    assert retried[2]["balance"] == 70
    assert TokenAccount.objects.get(user=user).balance == 70


@pytest.mark.django_db(transaction=True)
def test_a_checkout_behind_a_held_invoice_number_answers_503_busy_and_changes_nothing(server):
    user = UserFactory()
    bundle = TokenBundleFactory()
    year = datetime.now(UTC).year
    InvoiceSequence.objects.update_or_create(year=year, defaults={"last_number": 3})
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Idempotency-Key": "c"}
    before = database_state()

    with row_locked(SEQUENCE_LOCK, [year]):
        status, answer_headers, body = server.call(
            "POST",
            "/api/v1/user/checkout",
            {"token_bundle_ids": [str(bundle.pk)]},
            headers=headers,
            timeout=LOCK_TIMEOUT_SECONDS + 2,
        )

    assert (status, body) == (503, BUSY)
    assert answer_headers["Retry-After"] == str(LOCK_TIMEOUT_SECONDS)
    assert database_state() == before


@pytest.mark.django_db(transaction=True)
def test_health_answers_at_once_while_a_request_waits_on_a_held_lock(server):
    user = UserFactory()
    fund(user, 100)
    answers = []

    with row_locked(ACCOUNT_LOCK, [user.pk]):
        waiting = threading.Thread(
            target=lambda: answers.append(consume(server, user, "k", timeout=10))
        )
        waiting.start()
        workers_waiting_on_a_lock(the_test_database())
        health = server.call("GET", "/health", timeout=1)
        waiting.join()

    assert health[0] == 200
    assert health[2] == {"status": "ok", "database": "ok"}
    assert answers[0][0] == 503


@pytest.mark.django_db(transaction=True)
def test_when_every_worker_waits_on_a_held_lock_the_lock_timeout_frees_them(server):
    """Two workers, two requests stuck behind a lock that is never released: without the
    lock timeout nothing else would be served until it is."""
    user = UserFactory()
    fund(user, 100)
    answers = []

    with row_locked(ACCOUNT_LOCK, [user.pk]):
        stuck = [
            threading.Thread(
                target=lambda key=key: answers.append(consume(server, user, key, timeout=10))
            )
            for key in ("a", "b")
        ]
        for thread in stuck:
            thread.start()
        workers_waiting_on_a_lock(the_test_database(), count=2)
        health = server.call("GET", "/health", timeout=LOCK_TIMEOUT_SECONDS + 1)
        for thread in stuck:
            thread.join()

    assert health[0] == 200
    assert sorted(status for status, _, _ in answers) == [503, 503]
    assert TokenAccount.objects.get(user=user).balance == 100


@pytest.mark.django_db(transaction=True)
def test_a_request_chosen_as_a_deadlocks_victim_answers_503_busy_and_changes_nothing(settings):
    """PostgreSQL ends a deadlock by rolling one transaction back; a request without an
    Idempotency-Key (nothing retries it for the client) answered 500 then. Here the staff's
    PATCH turning an endpoint off holds it and waits for a delivery that another transaction
    holds, which then asks for the endpoint."""
    from events import services as event_services
    from events.models import Delivery, Event

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint = event_services.endpoint_create(url="http://127.0.0.1:9/h", event_types=["ping"])
    delivery = Delivery.objects.create(
        event=Event.objects.create(type="ping", data={}), endpoint=endpoint
    )
    staff = client_for(UserFactory(is_staff=True))
    before = database_state()
    answers: dict[str, object] = {}

    def turn_off() -> None:
        try:
            answers["patch"] = staff.patch(
                f"/api/v1/admin/webhook-endpoints/{endpoint.pk}",
                {"is_active": False},
                format="json",
            )
        finally:
            connection.close()

    with psycopg.connect(**the_test_database()) as other:
        other.execute("SELECT 1 FROM events_delivery WHERE id = %s FOR UPDATE", [delivery.pk])
        patching = threading.Thread(target=turn_off)
        patching.start()
        wait_until(lambda: "patch" in answers or sessions_waiting_on_a_lock() >= 1)
        other.execute(
            "SELECT 1 FROM events_webhookendpoint WHERE id = %s FOR UPDATE", [endpoint.pk]
        )
        patching.join()
        other.rollback()

    assert answers["patch"].status_code == 503
    assert answers["patch"].json() == BUSY
    assert database_state() == before
