"""What the admin's History of a row shows: who did what to it (common.audit)."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models


def history(instance: models.Model) -> list[tuple[str, str]]:
    """The staff member's email and the message of each record about `instance`, oldest
    first, as its History page lists them."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
        object_id=str(instance.pk),
    ).order_by("action_time", "pk")
    return [(entry.user.email, entry.get_change_message()) for entry in entries]


def records() -> int:
    """Every record of the History, for a refused action to leave none (database_state
    covers the project's apps, not Django's admin)."""
    return LogEntry.objects.count()
