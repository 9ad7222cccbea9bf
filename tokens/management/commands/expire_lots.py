"""`manage.py expire_lots`: book every lot that has expired with tokens left in it.

Expired tokens already left every balance at their instant; this writes the `expiration`
entries that say so, one short transaction per account, so it runs beside live traffic (the
worker runs it every minute). Running it again finds nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tokens.services import Sweep, SweepIncomplete, lots_expire


class Command(BaseCommand):
    help = "Write the expiration entries of lots that have expired with tokens left."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; count.")
        parser.add_argument("--batch-size", type=int, default=500, help="Accounts per batch (500).")

    def handle(self, *args, **options) -> None:
        if options["batch_size"] < 1:
            # 0 took no account at all and reported that nothing was due.
            raise CommandError("--batch-size must be at least 1.")
        try:
            sweep = lots_expire(batch_size=options["batch_size"], dry_run=options["dry_run"])
        except SweepIncomplete as incomplete:
            self._report(incomplete.done, options["dry_run"])
            raise CommandError(str(incomplete)) from incomplete
        self._report(sweep, options["dry_run"])

    def _report(self, sweep: Sweep, dry_run: bool) -> None:
        verb = "would expire" if dry_run else "expired"
        self.stdout.write(
            f"{sweep.lots} lot(s) {verb}: {sweep.tokens} tokens of {sweep.accounts} account(s)."
        )
