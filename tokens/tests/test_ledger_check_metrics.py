"""The ledger audit's outcome in /metrics, wherever the audit ran: the worker (or an operator)
runs `ledger_check` in another process, often on another machine, than the gunicorn that
answers /metrics, so a counter it incremented was never seen where it is scraped."""

import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from uuid import UUID

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.tests.factories import UserFactory
from common.tests.servers import PROJECT, database_url, gunicorn, the_test_database
from tokens import services
from tokens.models import LedgerCheckRun, TokenAccount

FAILING = "ledger_check_failing_accounts"
FINISHED = "ledger_check_last_run_timestamp_seconds"


def values(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in (FAILING, FINISHED)
    }


def drifted_account():
    user = UserFactory()
    services.tokens_credit(
        user_id=user.pk, amount=1000, transaction_type="adjustment", description="test"
    )
    TokenAccount.objects.filter(user=user).update(balance=7)
    return user


def ledger_check_elsewhere() -> subprocess.CompletedProcess:
    """`manage.py ledger_check` in a process of its own, as the worker's container runs it."""
    return subprocess.run(
        [sys.executable, "manage.py", "ledger_check"],
        cwd=PROJECT,
        env={**os.environ, "DATABASE_URL": database_url(**the_test_database())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_gunicorns_metrics_show_an_audit_run_in_another_process():
    user = drifted_account()
    before = timezone.now().timestamp()

    with gunicorn(database=the_test_database(), workers=2) as server:
        assert values(server.call("GET", "/metrics")[2]) == {}

        failed = ledger_check_elsewhere()
        status, _, text = server.call("GET", "/metrics")

        assert failed.returncode == 1, failed.stderr
        assert status == 200
        assert values(text).get(FAILING) == 1
        assert values(text).get(FINISHED, 0) >= before

        TokenAccount.objects.filter(user=user).update(balance=1000)
        sound = ledger_check_elsewhere()

        assert sound.returncode == 0, sound.stderr
        assert values(server.call("GET", "/metrics")[2]).get(FAILING) == 0


@pytest.mark.sqlite
@pytest.mark.django_db
def test_metrics_read_the_newest_run_in_one_query(client, django_assert_max_num_queries):
    drifted_account()
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=StringIO())
    finished = LedgerCheckRun.objects.get().finished_at

    # The ledger's one, the expiry sweeps' backlog two (tokens/metrics.py), the webhook
    # deliveries' two (events/metrics.py) and the worker's sweeps' one (jobs/metrics.py).
    with django_assert_max_num_queries(6):
        response = client.get("/metrics")

    assert values(response.content.decode()) == {FAILING: 1, FINISHED: finished.timestamp()}


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_run_keeps_thirty_days_of_runs():
    now = timezone.now()
    services.ledger_check_record(failing_accounts=2, now=now - timedelta(days=31))
    services.ledger_check_record(failing_accounts=1, now=now - timedelta(days=29))

    services.ledger_check_record(failing_accounts=0, now=now)

    assert [run.failing_accounts for run in LedgerCheckRun.objects.all()] == [0, 1]


@pytest.mark.sqlite
@pytest.mark.django_db
def test_a_run_keeps_its_first_failing_accounts_for_the_staff_overview(monkeypatch):
    monkeypatch.setattr(services.audit, "FAILURES_KEPT", 1)
    user_ids = {str(drifted_account().pk), str(drifted_account().pk)}
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=StringIO())

    run = LedgerCheckRun.objects.get()

    assert (run.failing_accounts, len(run.failures)) == (2, 1)
    (kept,) = run.failures
    assert kept["user_id"] in user_ids
    account = TokenAccount.objects.get(user_id=kept["user_id"])
    assert UUID(kept["account_id"]) == account.pk
    assert "balance 7 != sum of entries 1000" in kept["problems"]
