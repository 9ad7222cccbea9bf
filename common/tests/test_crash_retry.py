"""A request whose gunicorn worker is SIGKILLed never blocks its retry.

Real processes on PostgreSQL, directly and behind PgBouncer in transaction pooling: the test
holds a row lock in its own connection so the request blocks inside its write, kills the
worker serving it, releases the lock and retries with the same key and body. The retry must
answer within 10 seconds (its client gives up after that), far short of the 60 s lock
timeout a retry stuck behind the killed worker's lock would wait, and the work must be done
once. (2 s was too short for a machine running the suite beside other work: gunicorn's new
worker and the retry's first connection took longer once, with nothing stuck.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from billing.models import Invoice, InvoiceSequence
from catalog.tests.factories import TokenBundleFactory
from common.tests.servers import gunicorn_routed, the_test_database, workers_waiting_on_a_lock
from tokens.models import TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db(transaction=True)

RETRY_TIMEOUT = 10.0


@pytest.fixture(scope="module", params=["postgresql", "pgbouncer"])
def server(request, django_db_setup, django_db_blocker):
    """A long lock timeout: the first request must still be waiting when it is killed."""
    with (
        django_db_blocker.unblock(),
        gunicorn_routed(request.param, DB_LOCK_TIMEOUT="60") as running,
    ):
        yield running


def kill_the_worker_blocked_on(lock_sql: str, params: list, server, send) -> None:
    """Holds the lock, sends the request (it blocks), SIGKILLs its worker, releases the lock."""
    outcome = {}
    with psycopg.connect(**the_test_database()) as holder:
        holder.execute(lock_sql, params)
        first = threading.Thread(target=lambda: outcome.update(first=_attempt(send)))
        first.start()
        (worker,) = workers_waiting_on_a_lock(the_test_database())
        os.kill(worker, signal.SIGKILL)
        first.join(timeout=10)
        holder.rollback()
    assert isinstance(outcome["first"], OSError), outcome


def _attempt(send):
    try:
        return send(timeout=30)
    except OSError as error:
        return error


def timed(send):
    started = time.monotonic()
    answer = send(timeout=RETRY_TIMEOUT)
    elapsed = time.monotonic() - started
    print(f"retry answered in {elapsed:.3f} s")
    return answer


def test_a_consume_killed_inside_the_ledger_write_is_done_once_by_its_retry(server):
    user = UserFactory()
    fund(user, 100)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Idempotency-Key": "k1"}

    def send(timeout):
        return server.call(
            "POST", "/api/v1/user/tokens/consume", {"amount": 30}, headers=headers, timeout=timeout
        )

    kill_the_worker_blocked_on(
        "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE", [user.pk], server, send
    )
    status, _, body = timed(send)
    again_status, again_headers, again = send(timeout=RETRY_TIMEOUT)

    assert status == 201, body
    assert body["balance"] == 70
    assert TokenAccount.objects.get(user=user).balance == 70
    assert (
        TokenTransaction.objects.filter(account__user=user, transaction_type="usage").count() == 1
    )
    assert (again_status, again) == (status, body)
    assert again_headers["Idempotent-Replayed"] == "true"


def test_a_checkout_killed_waiting_for_its_invoice_number_is_done_once_by_its_retry(server):
    user = UserFactory()
    bundle = TokenBundleFactory()
    year = datetime.now(UTC).year
    InvoiceSequence.objects.update_or_create(year=year, defaults={"last_number": 41})
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Idempotency-Key": "cart"}

    def send(timeout):
        return server.call(
            "POST",
            "/api/v1/user/checkout",
            {"token_bundle_ids": [str(bundle.pk)]},
            headers=headers,
            timeout=timeout,
        )

    kill_the_worker_blocked_on(
        "SELECT 1 FROM billing_invoicesequence WHERE year = %s FOR UPDATE", [year], server, send
    )
    status, _, body = timed(send)
    again_status, _, again = send(timeout=RETRY_TIMEOUT)

    assert status == 201, body
    assert body["invoice"]["number"] == f"INV-{year}-000042"
    assert list(Invoice.objects.filter(user=user).values_list("number", flat=True)) == [
        f"INV-{year}-000042"
    ]
    assert (again_status, again) == (status, body)
