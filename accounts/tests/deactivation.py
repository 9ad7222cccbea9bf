"""Staff deactivating a user (or someone deleting one, with psql or a shell) on another
connection, while a test's request is in the middle of its work: the races of a write of
the user the request read against a deactivation or a deletion."""

from __future__ import annotations

import threading
from collections.abc import Callable
from uuid import UUID

from django.db import connection

from accounts import services
from accounts.models import User


def deactivate_on_another_connection(user_id: UUID) -> None:
    """Deactivates the user in a real thread on its own connection, committed before this
    returns."""
    _on_another_connection(
        lambda: services.users_deactivate(queryset=User.objects.filter(pk=user_id))
    )


def delete_on_another_connection(user_id: UUID) -> None:
    """Deletes the user as psql would (the admin deletes none), in a real thread on its own
    connection, committed before this returns."""
    _on_another_connection(lambda: User.objects.filter(pk=user_id).delete())


def _on_another_connection(work: Callable[[], object]) -> None:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
