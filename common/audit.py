"""Who on the staff did what, and when: one record per row changed, in the admin's History.

Staff move money, tokens and access through two doors, the admin and the staff API. The
admin's change pages write Django's LogEntry; its list actions, its own buttons and the API
wrote nothing, so "who refunded this invoice?" had no answer. The services that do such a
change call `staff_action_record` inside their transaction: the record commits with the
change (a refused or rolled-back action leaves none) whichever door it came through, and
shows in the row's History page beside the change pages' own entries. Token movements
already name their staff member on the ledger entry (`created_by`), so they need none.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import models

FLAGS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def staff_action_record(
    *,
    actor_id: UUID | None,
    instances: Sequence[models.Model],
    message: str,
    action: str = "change",
) -> None:
    """Records that `actor_id` did `message` to each of `instances` now; `action` is what
    the History shows it as ("add", "change" or "delete": a row to be deleted is recorded
    before, while it still has its id). None (the system, a provider's webhook, a service
    key) records nothing: there is no one to name."""
    if actor_id is None or not instances:
        return
    LogEntry.objects.log_actions(
        user_id=actor_id,
        queryset=list(instances),
        action_flag=FLAGS[action],
        change_message=message,
    )
