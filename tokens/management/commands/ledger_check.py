"""`manage.py ledger_check`: the ledger's audit, every account against its entries.

It changes no account, so it runs beside live traffic; each finished run records its outcome
(how many accounts failed, and the first of them) for /metrics and the staff overview. Exit
codes: 0 every account agrees with its entries, 1 some do not (each listed with what
disagrees).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from tokens.selectors import ledger_check
from tokens.services import ledger_check_record


class Command(BaseCommand):
    help = (
        "Check every token account: balance = sum of its entries = the newest balance_after, "
        "and its totals and entry count agree with its entries."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, **options) -> None:
        failures = list(ledger_check())
        # For /metrics, wherever it is served (tokens.metrics), and the staff overview.
        ledger_check_record(failing_accounts=len(failures), failures=failures)
        if options["json"]:
            listing = [
                {
                    "account_id": str(f.account_id),
                    "user_email": f.user_email,
                    "problems": f.problems,
                }
                for f in failures
            ]
            self.stdout.write(json.dumps({"failures": listing}, indent=2))
        else:
            for failure in failures:
                problems = "; ".join(failure.problems)
                self.stdout.write(
                    f"Ledger: {failure.user_email} ({failure.account_id}): {problems}"
                )
            if not failures:
                self.stdout.write("Every account agrees with its ledger entries.")
        if failures:
            raise CommandError(f"{len(failures)} account(s) fail the ledger check.", returncode=1)
