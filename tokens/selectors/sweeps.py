"""What the expiry sweeps have left to do: the operator's sign that one stopped working."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min

from tokens.models import Hold, TokenLot


@dataclass(frozen=True)
class Overdue:
    """Rows past their expiry that a sweep has not booked yet, and when the oldest expired."""

    count: int
    oldest_expired_at: datetime | None


def expiry_overdue(*, now: datetime) -> dict[str, Overdue]:
    """Lots expired with tokens still in them (`expire_lots` books them) and active holds
    past their expiry (`expire_holds` releases them), by sweep. Each is read along a partial
    index that holds only live lots or active holds, so the cost follows the rows still to
    do, not the tables: a scrape may call it."""
    lots = TokenLot.objects.filter(remaining__gt=0, expires_at__lte=now).aggregate(
        count=Count("*"), oldest=Min("expires_at")
    )
    holds = Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now).aggregate(
        count=Count("*"), oldest=Min("expires_at")
    )
    return {
        "expire_lots": Overdue(lots["count"], lots["oldest"]),
        "expire_holds": Overdue(holds["count"], holds["oldest"]),
    }
