"""A daily purge held in the middle, for tests of a worker stopped or killed meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.utils import timezone


@contextmanager
def purge_held() -> Iterator[Session]:
    """An expired session whose row a transaction of another connection holds until the
    block ends: the purge of sessions waits on it (start the worker with `DB_LOCK_TIMEOUT=0`
    and `DB_STATEMENT_TIMEOUT=0`, so it waits as long as it takes)."""
    expired = Session.objects.create(
        session_key="expired", session_data="", expire_date=timezone.now() - timedelta(days=1)
    )
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Session.objects.select_for_update().get(pk=expired.pk)
            locked.set()
            release.wait(60)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        yield expired
    finally:
        release.set()
        holder.join(10)
