"""Staff deactivating a user on another connection, while a test's request is in the middle
of its work: the races of a stale write of the whole user against a deactivation."""

from __future__ import annotations

import threading
from uuid import UUID

from django.db import connection

from accounts import services
from accounts.models import User


def deactivate_on_another_connection(user_id: UUID) -> None:
    """Deactivates the user in a real thread on its own connection, committed before this
    returns."""

    def deactivate() -> None:
        try:
            services.users_deactivate(queryset=User.objects.filter(pk=user_id))
        finally:
            connection.close()

    thread = threading.Thread(target=deactivate)
    thread.start()
    thread.join()
