"""Real concurrency for tests: threads with their own database connections, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction

from common.tests.waits import sessions_waiting_on_a_lock, wait_until


def run_together(calls: Sequence[Callable[[], Any]], *, workers: int) -> list[Any]:
    """Runs `calls` on `workers` threads that start at the same instant (a barrier).

    Each thread has its own connection (Django's are per thread) and closes it at the end.
    Returns every call's result, or the exception it raised, in completion order.

    On SQLite the threads wait up to a minute for the write lock: its busy handler sleeps
    and retries with no queue, so on a loaded machine one writer of eight can be passed over
    for longer than the 3 s busy timeout and be refused as busy (a 503 through the API,
    nothing written). That refusal is right, but it is not what a race here is about.
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
    with _patient_on_sqlite():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


@contextmanager
def _patient_on_sqlite() -> Iterator[None]:
    database = connections.settings["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        yield
        return
    options = database["OPTIONS"]
    saved = options["timeout"]
    options["timeout"] = 60
    try:
        yield
    finally:
        options["timeout"] = saved


def meeting(held, waiting) -> dict:
    """`held` runs in a transaction left open until `waiting`, on another thread, has
    answered or waits for a lock; then it commits. Each thread has its own connection.
    Returns what each answered, or raised."""
    done_not_committed, commit = threading.Event(), threading.Event()
    answers: dict[str, object] = {}

    def hold() -> None:
        try:
            with transaction.atomic():
                answers["held"] = held()
                done_not_committed.set()
                commit.wait(10)
        except Exception as error:  # the test reports whatever either side raised
            answers["held"] = error
        finally:
            done_not_committed.set()
            connections.close_all()

    def wait() -> None:
        try:
            answers["waiting"] = waiting()
        except Exception as error:  # the test reports whatever either side raised
            answers["waiting"] = error
        finally:
            connections.close_all()

    holding = threading.Thread(target=hold)
    holding.start()
    done_not_committed.wait(10)
    waiting_thread = threading.Thread(target=wait)
    waiting_thread.start()
    wait_until(lambda: "waiting" in answers or sessions_waiting_on_a_lock() > 0)
    commit.set()
    holding.join()
    waiting_thread.join()
    return answers


def paused_first(
    first: tuple[str, Callable[[], Any]],
    second: tuple[str, Callable[[], Any]],
    *,
    held: threading.Event,
    go: threading.Event,
) -> dict:
    """Runs `first` on a thread of its name until a step the test patched sets `held` and
    waits for `go`; then `second`, on a thread of its name, until it has answered or waits
    for a lock; then lets the first go on. Each thread has its own connection. Returns what
    each answered, or raised, by name."""
    answers: dict[str, object] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        try:
            answers[name] = work()
        except Exception as error:  # the test reports whatever either side raised
            answers[name] = error
        finally:
            connections.close_all()

    first_thread = threading.Thread(target=run, args=first, name=first[0])
    first_thread.start()
    assert held.wait(10), f"{first[0]} never reached the step where it pauses"
    second_thread = threading.Thread(target=run, args=second, name=second[0])
    second_thread.start()
    wait_until(lambda: second[0] in answers or sessions_waiting_on_a_lock() > 0)
    go.set()
    first_thread.join()
    second_thread.join()
    return answers
