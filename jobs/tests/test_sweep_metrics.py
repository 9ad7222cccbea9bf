"""The worker's sweeps in /metrics, wherever they run: the worker runs them in its own
process (often another container) than the gunicorn that answers /metrics, so a counter
they incremented was never seen where it is scraped, and a sweep that stopped or failed
every minute showed nowhere an operator alerts from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from billing.tests.helpers import checkout
from billing.tests.reconcile_helpers import with_stripe_session
from catalog.tests.factories import TokenBundleFactory
from common.tests.servers import gunicorn, the_test_database
from jobs import tasks
from jobs.metrics import SweepsCollector
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)

SUCCEEDED = "worker_sweep_last_success_timestamp_seconds"
FAILED = "worker_sweep_last_failure_timestamp_seconds"
FAILURES = "worker_sweep_failures"
SWEEPS = [
    "expire_lots",
    "expire_holds",
    "expire_subscriptions",
    "reconcile_purchases",
    "ledger_check",
    "purge_records",
]


def values(text: str) -> dict:
    return {
        (sample.name, sample.labels.get("sweep")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in (SUCCEEDED, FAILED, FAILURES)
    }


def run_once(job) -> None:
    """One run of `job` by django-tasks-db's worker, which records its outcome as the
    worker's container does; nothing else queued is run."""
    DBTaskResult.objects.filter(status="READY").exclude(task_path=job.module_path).delete()
    if not DBTaskResult.objects.filter(task_path=job.module_path, status="READY").exists():
        job.enqueue()
    DBTaskResult.objects.filter(task_path=job.module_path, status="READY").update(
        run_after=timezone.now() - timedelta(seconds=1)
    )
    call_command("db_worker", "--queue-name", "default", "--max-tasks", "1", "--no-startup-delay")


def test_gunicorns_metrics_show_the_worker_s_sweeps_succeed_and_fail(monkeypatch):
    before = timezone.now().timestamp()
    run_once(tasks.expire_holds)

    def broken(**kwargs):
        raise RuntimeError("the holds could not be expired")

    monkeypatch.setattr(token_services, "holds_expire", broken)
    run_once(tasks.expire_holds)
    run_once(tasks.expire_holds)

    with gunicorn(database=the_test_database(), workers=2) as server:
        status, _, text = server.call("GET", "/metrics")

    assert status == 200
    found = values(text)
    assert {key: found[key] for key in found if key[0] == FAILURES} == {
        (FAILURES, name): (2 if name == "expire_holds" else 0) for name in SWEEPS
    }
    assert sorted(key for key in found if key[0] != FAILURES) == [
        (FAILED, "expire_holds"),
        (SUCCEEDED, "expire_holds"),
    ]
    assert before <= found[(SUCCEEDED, "expire_holds")] <= found[(FAILED, "expire_holds")]


def test_a_failure_older_than_a_day_is_no_longer_counted():
    run_once(tasks.expire_lots)
    DBTaskResult.objects.filter(task_path=tasks.expire_lots.module_path).exclude(
        status="READY"
    ).update(status="FAILED", finished_at=timezone.now() - timedelta(hours=25))

    found = {
        (sample.name, sample.labels["sweep"]): sample.value
        for family in SweepsCollector().collect()
        for sample in family.samples
    }

    assert found[(FAILURES, "expire_lots")] == 0
    assert (FAILED, "expire_lots") in found


def test_a_database_that_does_not_answer_leaves_the_sweeps_out_and_nothing_raises(monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(DBTaskResult.objects, "filter", refused)

    assert list(SweepsCollector().collect()) == []


def test_a_reconciliation_stripe_failed_is_a_failed_run(user, user_client, fake_stripe):
    """With Stripe unreachable (down, or STRIPE_SECRET_KEY revoked) reconcile_purchases
    exits 3 having captured and cancelled nothing it had to ask about: the run was recorded
    as a success every hour, so worker_sweep_last_success stayed fresh and no sweep metric
    ever showed that reconciliation had stopped. Its ERROR line alone said so."""
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice
    session = with_stripe_session(invoice, fake_stripe, user_client, age=timedelta(hours=80))
    fake_stripe.complete(session)
    fake_stripe.fail_next(10)

    run_once(tasks.reconcile_purchases)

    runs = DBTaskResult.objects.filter(task_path=tasks.reconcile_purchases.module_path)
    assert list(runs.exclude(status="READY").values_list("status", flat=True)) == ["FAILED"]
    found = {
        (sample.name, sample.labels["sweep"]): sample.value
        for family in SweepsCollector().collect()
        for sample in family.samples
    }
    assert found[(FAILURES, "reconcile_purchases")] == 1
    assert (SUCCEEDED, "reconcile_purchases") not in found
