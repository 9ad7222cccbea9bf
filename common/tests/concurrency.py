"""Real concurrency for tests: threads with their own database connections, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections


def run_together(calls: Sequence[Callable[[], Any]], *, workers: int) -> list[Any]:
    """Runs `calls` on `workers` threads that start at the same instant (a barrier).

    Each thread has its own connection (Django's are per thread) and closes it at the end.
    Returns every call's result, or the exception it raised, in completion order.
    """
    chunks = [list(calls[index::workers]) for index in range(workers)]
    barrier = threading.Barrier(workers)
    results: list[Any] = []
    lock = threading.Lock()

    def work(chunk: list[Callable[[], Any]]) -> None:
        try:
            barrier.wait()
            for call in chunk:
                try:
                    outcome = call()
                except Exception as error:  # the test inspects every outcome, errors too
                    outcome = error
                with lock:
                    results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
