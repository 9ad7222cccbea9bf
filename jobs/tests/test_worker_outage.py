"""The worker while the database restarts: its loops fail on every poll and start again
each second, and each start is one warning line without a traceback, as a request's 503
is, not an ERROR with a traceback every second for each of its two loops."""

from __future__ import annotations

import pytest
from django.db import connection

from common.tests.test_database_down import database_down, traceback
from jobs.management.commands import worker as command

pytestmark = pytest.mark.django_db(transaction=True)


class Enough(BaseException):
    """Ends `supervised`, which starts a failing worker again for ever."""


def restarts(monkeypatch, count: int) -> None:
    """The supervisor's pause between starts, without the wait, ending it after `count`."""
    paused = []

    def pause(seconds: float) -> None:
        paused.append(seconds)
        if len(paused) == count:
            raise Enough

    monkeypatch.setattr(command.time, "sleep", pause)


class PollingWorker:
    """A django-tasks-db worker as far as `supervised` sees it: its loop polls the database."""

    worker_id = "host-1-sweeps"

    def run(self) -> None:
        connection.ensure_connection()


def worker_lines(caplog) -> list[tuple[str, object]]:
    return [
        (record.levelname, traceback(record), record.getMessage())
        for record in caplog.records
        if record.name == command.logger.name
    ]


def test_a_worker_that_cannot_reach_the_database_writes_one_warning_per_start(monkeypatch, caplog):
    restarts(monkeypatch, 3)

    caplog.clear()
    with database_down(), pytest.raises(Enough):
        command.supervised(PollingWorker())
    lines = worker_lines(caplog)

    assert [(level, trace) for level, trace, _ in lines] == [("WARNING", None)] * 3
    assert all("Connection refused" in message for _, _, message in lines)
    assert all("\n" not in message for _, _, message in lines)


def test_any_other_failure_keeps_its_error_and_traceback(monkeypatch, caplog):
    restarts(monkeypatch, 1)

    class Failing(PollingWorker):
        def run(self) -> None:
            raise RuntimeError("a bug")

    with pytest.raises(Enough):
        command.supervised(Failing())
    lines = worker_lines(caplog)

    assert [(level, bool(trace)) for level, trace, _ in lines] == [("ERROR", True)]
