"""`manage.py worker`: delivers webhooks and runs the scheduled sweeps until SIGTERM.

Two django-tasks-db workers in one process: one takes the `deliveries` queue (shifts of
sending, a thread pool inside), the other the `default` queue (lot and hold expiry every
minute, reconciliation and the ledger audit hourly, purges daily). Run as many as you like:
leases keep each sweep to one worker at a time, and deliveries are leased row by row.
"""

from __future__ import annotations

import os
import socket
import threading

from django.core.management.base import BaseCommand
from django_tasks_db.management.commands.db_worker import Worker

from jobs.tasks import schedule_ensure


class Command(BaseCommand):
    help = "Deliver webhooks and run the scheduled sweeps (until SIGTERM)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--interval", type=float, default=0.5, help="Seconds between polls when idle."
        )

    def handle(self, *args, **options) -> None:
        name = f"{socket.gethostname()}-{os.getpid()}"
        queued = schedule_ensure()
        self.stdout.write(f"worker {name}: {queued} scheduled job(s) queued")
        settings = {
            "interval": options["interval"],
            "batch": False,
            "backend_name": "default",
            "startup_delay": False,
            "max_tasks": None,
            "excluded_queue_names": [],
        }
        deliveries = Worker(queue_names=["deliveries"], worker_id=f"{name}-deliveries", **settings)
        threading.Thread(target=deliveries.run, name="deliveries", daemon=True).start()
        sweeps = Worker(queue_names=["default"], worker_id=f"{name}-sweeps", **settings)
        sweeps.configure_signals()
        sweeps.run()
