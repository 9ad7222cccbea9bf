"""`manage.py worker`: delivers webhooks and runs the scheduled sweeps until SIGTERM.

Two django-tasks-db workers in one process: one takes the `deliveries` queue (shifts of
sending, a thread pool inside), the other the `default` queue (lot, hold and subscription
expiry every minute, reconciliation and the ledger audit hourly, purges daily). SIGTERM ends
the delivery shift once the outcomes of what it sent are written (deliveries_stop). Run as
many as you like: leases keep each sweep to one worker at a time, and deliveries are leased
row by row.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from argparse import ArgumentTypeError

from django.core.management.base import BaseCommand
from django.db import connections
from django_tasks_db.management.commands.db_worker import Worker

from common.locks import place
from common.outage import database_unavailable, warn_database_error
from events.dispatch.sending import TIMEOUT_SECONDS
from jobs.tasks import DELIVERIES_STOPPING, runs_abandon, schedule_ensure

logger = logging.getLogger(__name__)

# Seconds between a deliveries worker's failure and its next start.
RESTART_DELAY = 1.0
# How long a stopping worker waits for the attempts on their way (each ends within
# TIMEOUT_SECONDS) and their outcomes to be written.
STOP_WAIT = TIMEOUT_SECONDS + 10


def supervised(worker: Worker) -> None:
    """Runs `worker` again whenever it fails, until it ends by itself (SIGTERM ends the process
    as before). A database error ends a worker's loop (a connection dropped by a failover or
    a firewall): in the deliveries' own thread that went unnoticed, the process lived on with
    its sweeps, and no webhook was delivered again. While the database is down each start
    fails at once: one warning line each, without the traceback (common.outage)."""
    failed = False
    while True:
        try:
            if failed:
                runs_abandon(worker_id=worker.worker_id)
            worker.run()
        except Exception as error:
            if database_unavailable(error):
                # Every poll fails while the database restarts: a line a start, as a request's.
                warn_database_error(
                    logger, f"The {worker.worker_id} worker failed; it starts again", error
                )
            else:
                logger.exception("The %s worker failed; it starts again.", worker.worker_id)
            failed = True
            connections.close_all()
            time.sleep(RESTART_DELAY)
        else:
            return


def schedule_once_database_answers(name: str) -> int:
    """`schedule_ensure` at the worker's start, tried again each RESTART_DELAY while the
    database cannot be reached, a warning line each time (common.outage). A worker started
    before its database (a host's reboot starts every container at once) died with a
    traceback and did nothing until something started it again."""
    while True:
        try:
            return schedule_ensure()
        except Exception as error:
            if not database_unavailable(error):
                raise
            warn_database_error(
                logger, f"The {name} worker cannot reach the database; it tries again", error
            )
            connections.close_all()
            time.sleep(RESTART_DELAY)


def poll_interval(text: str) -> float:
    """Seconds, more than 0: time.sleep refuses a negative one (each idle poll raised, and the
    worker failed and started again every second), and 0 polls the database without a pause."""
    seconds = float(text)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ArgumentTypeError("must be a number of seconds greater than 0")
    return seconds


class Command(BaseCommand):
    help = "Deliver webhooks and run the scheduled sweeps (until SIGTERM)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval",
            type=poll_interval,
            default=0.5,
            help="Seconds between polls when idle (more than 0).",
        )

    def handle(self, *args, **options) -> None:
        # Its pids mean something only in its place (jobs.tasks._reap_dead_runs).
        name = f"{place()}-{os.getpid()}"
        queued = schedule_once_database_answers(name)
        # A log line, in the log's format: the worker's output is its log.
        logger.info("worker %s: %s scheduled job(s) queued", name, queued)
        settings = {
            "interval": options["interval"],
            "batch": False,
            "backend_name": "default",
            "startup_delay": False,
            "max_tasks": None,
            "excluded_queue_names": [],
        }
        deliveries = Worker(queue_names=["deliveries"], worker_id=f"{name}-deliveries", **settings)
        sending = threading.Thread(
            target=supervised, args=(deliveries,), name="deliveries", daemon=True
        )
        sending.start()
        sweeps = Worker(queue_names=["default"], worker_id=f"{name}-sweeps", **settings)
        signals_configure(sweeps, deliveries)
        try:
            supervised(sweeps)
        finally:
            deliveries_stop(deliveries, sending)


def signals_configure(sweeps: Worker, deliveries: Worker) -> None:
    """SIGTERM (and SIGINT, SIGQUIT) ends the delivery shift at once, and the sweeps once the
    one running has ended (a second signal ends it too). The shift was ended only after the
    sweep: told to stop during the daily purge or an hour's reconciliation, the worker went
    on sending webhooks as long as the sweep lasted, and the SIGKILL at the end of a deploy's
    grace period cut those attempts short, so they were sent again."""

    def shutdown(signum: int, frame) -> None:
        deliveries.running = False
        DELIVERIES_STOPPING.set()
        sweeps.shutdown(signum, frame)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(number, shutdown)


def deliveries_stop(worker: Worker, sending: threading.Thread) -> None:
    """Ends the delivery shift and waits (up to STOP_WAIT; a second SIGTERM ends the wait)
    until the outcomes of what it sent are written. Without it the process ended with the
    sweeps: webhooks the endpoints had received were sent again once their leases lapsed,
    and the shift stayed RUNNING, holding the next one back for STALE_SHIFT on another
    host."""
    worker.running = False
    DELIVERIES_STOPPING.set()
    sending.join(STOP_WAIT)
