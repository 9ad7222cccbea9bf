"""Management commands run as the worker's tasks: what they print is logged as one line, and
the exit codes that mean work was left undone fail the task."""

from __future__ import annotations

import io
import logging

from django.core.management import call_command
from django.core.management.base import CommandError

# The tasks' logger: their lines keep the name operators filter the worker's log by.
logger = logging.getLogger("jobs.tasks")

# How much of a command's output one log line carries: ledger_check lists every account that
# fails, so a drift across many accounts made one line as long as the whole listing, held in
# the worker's memory whole and longer than a log pipeline takes. The rest is counted; the
# command run by hand prints it all.
COMMAND_OUTPUT_LOGGED = 64 * 1024


class _Head(io.TextIOBase):
    """The first `limit` characters written to it; the rest only counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[str] = []
        self.size = self.left_out = 0

    def write(self, text: str) -> int:
        room = max(self.limit - self.size, 0)
        if room:
            self.kept.append(text[:room])
            self.size += min(len(text), room)
        self.left_out += max(len(text) - room, 0)
        return len(text)

    def text(self) -> str:
        head = "".join(self.kept).rstrip()
        if self.left_out:
            head += f"\n… {self.left_out} more characters not logged (run the command by hand)"
        return head


def command_run(
    name: str, *, failing: tuple[int, ...] = (), logged: int = COMMAND_OUTPUT_LOGGED
) -> None:
    """A management command whose refusals (exit codes) are for the log, not a crash; the
    exit codes in `failing` say it could not finish some of its work (each logged), and
    fail the task as the exception they stand for did, so the failure still shows.

    What it prints (reconcile_purchases' table, ledger_check's verdict and the accounts that
    disagree) is logged as one line with its outcome, its first `logged` characters: written
    to standard output, it fell between the worker's log lines, where a pipeline reading JSON
    could not parse it."""
    output = _Head(logged)
    try:
        call_command(name, verbosity=0, stdout=output)
    except CommandError as error:
        logger.error("%s: %s\n%s", name, error, output.text())
        if error.returncode in failing:
            raise
    else:
        logger.info("%s:\n%s", name, output.text())
