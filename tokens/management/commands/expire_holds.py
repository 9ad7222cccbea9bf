"""`manage.py expire_holds`: record holds past their expiry as expired.

Their tokens were available again from the instant they expired; this books it (the worker
runs it every minute). Running it again finds nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tokens.services import SweepIncomplete, holds_expire


class Command(BaseCommand):
    help = "Record every active hold past its expires_at as expired."

    def handle(self, *args, **options) -> None:
        try:
            expired = holds_expire()
        except SweepIncomplete as incomplete:
            self.stdout.write(f"{incomplete.done} hold(s) expired.")
            raise CommandError(str(incomplete)) from incomplete
        self.stdout.write(f"{expired} hold(s) expired.")
