"""`manage.py reconcile_purchases`: finish what webhooks missed; report what needs a person.

Safe beside live traffic and against itself: a second run at the same time exits at once.
Exit codes: 0 done, 2 when another run holds the lock, 3 when Stripe failed for some
invoices (they were left as they were) or could not list its events, 4 when Stripe does not
know a payment that paid an invoice here (listed; nothing was changed), 5 when some invoices
or events, or a step as a whole, could not be reconciled (each logged with its traceback and
named; every other one was). The ledger's audit is `manage.py ledger_check`.
"""

from __future__ import annotations

import json
import re
import sys
from argparse import ArgumentTypeError
from datetime import timedelta
from functools import partial

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from billing.services import reconcile
from common.locks import exclusive_lock

DURATION = re.compile(r"^([0-9]+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Ten years: every cutoff (now less a duration) stays a date, and no look back needs more.
LONGEST = timedelta(days=3650)


def duration(text: str) -> timedelta:
    """From 1s to 3650d, refused with argparse's usage line (exit code 2) otherwise, naming
    the option: a longer one overflowed a date (a traceback, or a step failing with exit
    code 5), and 0 made --expire-after cancel every pending invoice, even one being paid."""
    match = DURATION.match(text.strip())
    if not match:
        raise ArgumentTypeError(f"{text!r} is not a duration like 30m, 1h or 3d")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if not 0 < seconds <= LONGEST.total_seconds():
        raise ArgumentTypeError(f"{text!r} is not a duration from 1s to {LONGEST.days}d")
    return timedelta(seconds=seconds)


class Command(BaseCommand):
    help = (
        "Finish paid invoices whose items are not all active or credited, apply held refunds, "
        "ask Stripe about stale sessions (capture or cancel), handle the refund and dispute "
        "events Stripe sent whose webhook never came, expire ended subscriptions, "
        "expire the Stripe sessions of invoices cancelled or paid otherwise that Stripe could "
        "not be asked to end, "
        "purge idempotency records older than 24 h, refund invoices Stripe has refunded; "
        "report invoices paid here that Stripe does not know and payment events that need "
        "review."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; report.")
        parser.add_argument(
            "--older-than",
            type=duration,
            default=timedelta(hours=1),
            help="Ask Stripe about pending invoices whose session is older than this (1h).",
        )
        parser.add_argument(
            "--expire-after",
            type=duration,
            default=timedelta(hours=72),
            help="Cancel pending invoices older than this that Stripe has not seen paid (72h).",
        )
        parser.add_argument(
            "--verify-paid-within",
            type=duration,
            default=timedelta(hours=24),
            help="Ask Stripe about invoices paid through it this recently (24h).",
        )
        parser.add_argument(
            "--events-within",
            type=duration,
            default=timedelta(days=7),
            help="Ask Stripe for the refund and dispute events it sent this recently (7d; it "
            "keeps 30d).",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args, **options) -> None:
        console = Console(file=self.stdout, highlight=False)
        with exclusive_lock("reconcile_purchases") as held:
            if not held:
                raise CommandError(
                    "Another reconcile_purchases is running; this one did nothing.", returncode=2
                )
            report = self._run(console, options)
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(report), indent=2))
        else:
            _print_summary(console, report)
        if report.stripe_errors:
            raise CommandError(
                f"Stripe failed for {len(report.stripe_errors)} invoice(s) or event listing(s); "
                "run again later.",
                returncode=3,
            )
        if report.unknown_to_provider:
            raise CommandError(
                f"Stripe does not know the payment of {len(report.unknown_to_provider)} paid "
                "invoice(s); a person must look at them.",
                returncode=4,
            )
        if report.failed:
            raise CommandError(
                f"Could not reconcile {len(report.failed)} invoice(s) (each is logged with its "
                f"traceback; every other was): {', '.join(report.failed)}",
                returncode=5,
            )

    def _run(self, console: Console, options: dict) -> reconcile.ReconcileReport:
        report = reconcile.ReconcileReport(dry_run=options["dry_run"])
        show = sys.stdout.isatty() and not options["json"]
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed} done"),
            console=console,
            disable=not show,
            transient=True,
        ) as progress:
            tasks: dict[str, int] = {}

            def advance(step: str, count: int) -> None:
                if step not in tasks:
                    tasks[step] = progress.add_task(step, total=None)
                progress.advance(tasks[step], count)

            steps = {
                "paid invoices": partial(reconcile.paid_invoices_complete, progress=advance),
                "held refunds": reconcile.held_refunds,
                "stripe sessions": partial(
                    reconcile.stale_stripe_sessions,
                    older_than=options["older_than"],
                    expire_after=options["expire_after"],
                    progress=advance,
                ),
                "stripe events": partial(
                    reconcile.stripe_events_recover,
                    within=options["events_within"],
                    progress=advance,
                ),
                "subscriptions": reconcile.subscriptions_expire,
                "unconfirmed sessions": reconcile.unconfirmed_sessions_expire,
                "idempotency records": reconcile.idempotency_purge,
                "paid invoices verified": partial(
                    reconcile.paid_invoices_verify,
                    paid_within=options["verify_paid_within"],
                    progress=advance,
                ),
                "payments needing review": reconcile.payments_needing_review,
            }
            for name, step in steps.items():
                reconcile.on_its_own(report, name, partial(step, report))
        return report


ROWS = [
    ("Paid invoices completed", "paid_invoices_completed"),
    ("Held refunds applied", "held_refunds_applied"),
    ("Stripe sessions checked", "stripe_sessions_checked"),
    ("Invoices captured from Stripe", "invoices_captured"),
    ("Invoices cancelled (expired)", "invoices_cancelled"),
    ("Stripe events checked", "stripe_events_checked"),
    ("Stripe events recovered (webhook lost)", "stripe_events_recovered"),
    ("Subscriptions expired", "subscriptions_expired"),
    ("Stripe sessions of cancelled or otherwise paid invoices expired", "stripe_sessions_expired"),
    ("Idempotency records purged", "idempotency_records_purged"),
    ("Paid invoices verified with Stripe", "paid_invoices_verified"),
    ("Invoices refunded (refunded at Stripe)", "invoices_refunded"),
    ("Payment events needing review", "payments_needing_review"),
]


def _as_json(report: reconcile.ReconcileReport) -> dict:
    return {
        "dry_run": report.dry_run,
        **{name: getattr(report, name) for _label, name in ROWS},
        "stripe_errors": report.stripe_errors,
        "unknown_to_provider": report.unknown_to_provider,
        "needs_review": report.needs_review,
        "failed": report.failed,
    }


def _print_summary(console: Console, report: reconcile.ReconcileReport) -> None:
    verb = "would be" if report.dry_run else "were"
    table = Table(title=f"reconcile_purchases{' (dry run)' if report.dry_run else ''}")
    table.add_column("step")
    table.add_column("count", justify="right")
    for label, name in ROWS:
        table.add_row(label, str(getattr(report, name)))
    table.add_row("Stripe errors", str(len(report.stripe_errors)))
    table.add_row("Paid, unknown to Stripe", str(len(report.unknown_to_provider)))
    table.add_row("Invoices that failed", str(len(report.failed)))
    console.print(table)
    if not report.actions:
        console.print("Nothing to do.")
    else:
        console.print(f"{report.actions} change(s) {verb} made.")
    lines = [
        *(f"Failed: {line}" for line in report.failed),
        *(f"Stripe error: {line}" for line in report.stripe_errors),
        *(f"Unknown to Stripe: {line}" for line in report.unknown_to_provider),
        *(f"Needs review: {line}" for line in report.needs_review),
    ]
    for line in lines:
        console.file.write(f"{line}\n")
