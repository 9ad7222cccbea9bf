"""SIGTERM in the middle of a sweep: the worker ends its delivery shift at once."""

import signal

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from common.models import Lease
from events import services
from events.models import Delivery
from events.tests.receiver import Receiver
from jobs import tasks
from jobs.tests.purge_helpers import purge_held
from jobs.tests.test_worker_process import start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_told_to_stop_during_a_sweep_sends_no_new_webhook(settings, tmp_path):
    """The delivery shift was ended only once the sweep had: told to stop during the daily
    purge or an hour's reconciliation, the worker went on leasing and sending webhooks for
    as long as the sweep lasted, and a deploy's SIGKILL at the end of its grace period cut
    those attempts short, so the endpoints received them twice (README: "so a deploy sends
    no webhook twice")."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = Receiver().start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    receiver.secrets.append(endpoint.secret)
    shifts = DBTaskResult.objects.filter(task_path=tasks.deliver_webhooks.module_path)
    log = tmp_path / "worker.log"
    worker = None
    try:
        with purge_held():
            worker = start_worker(log=log, DB_LOCK_TIMEOUT="0", DB_STATEMENT_TIMEOUT="0")
            wait_for(lambda: Lease.objects.filter(name="job:purge_records").exists())
            wait_for(lambda: shifts.filter(status="RUNNING").exists())
            worker.send_signal(signal.SIGTERM)
            wait_for(lambda: "shutting down gracefully" in log.read_text())
            with transaction.atomic():
                services.events_emit([services.Notice("ping", {"n": 1})])
            # Stopped: its shift has ended. Still sending: the webhook goes out.
            wait_for(lambda: receiver.received or not shifts.filter(status="RUNNING").exists())
            sent_while_stopping = len(receiver.received)
        worker.wait(40)
    finally:
        if worker and worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        receiver.stop()

    assert sent_while_stopping == 0
    assert Delivery.objects.get().attempts == 0
