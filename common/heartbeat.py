"""Telling the server that a long answer is still under way.

gunicorn's sync workers tell its arbiter they are alive only between requests, and a worker
silent for `timeout` seconds (30, config/gunicorn.py) is killed, whatever it is doing. A
streamed answer that takes longer, such as the CSV of a long history (38 s for 1,000,000
entries, docs/decisions.md), was cut off there. Such an answer calls `heartbeat()` as it makes
progress; a worker stuck for `timeout` seconds is still killed. Outside gunicorn (tests,
`runserver`) nothing is installed and `heartbeat()` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

_notify: list[Callable[[], None]] = []


def heartbeat_install(notify: Callable[[], None]) -> None:
    """Called once in each gunicorn worker (config/gunicorn.py) with its `notify`."""
    _notify[:] = [notify]


def heartbeat() -> None:
    """The worker is making progress: its arbiter leaves it for another `timeout`."""
    for notify in _notify:
        notify()
