"""The step that asks Stripe which refund and dispute events it sent: one whose webhook never
came (Stripe gives up after about three days of retries: a wrong signing secret, an outage)
is handled here as its delivery would have been."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, PaymentEvent
from billing.services.reconcile.report import (
    Progress,
    ReconcileReport,
    no_progress,
    on_its_own,
)
from billing.services.stripe_webhook import stripe_event_recover
from billing.services.stripe_webhook.payments import (
    DISPUTE_CLOSED_EVENT,
    DISPUTE_EVENT,
    REFUND_UPDATE_EVENTS,
)

# What the webhook acts on after a payment: its refunds and disputes. (A payment whose own
# webhook was lost is found by its stale session.)
RECOVERED_TYPES = (
    "charge.refunded",
    DISPUTE_EVENT,
    DISPUTE_CLOSED_EVENT,
    *sorted(REFUND_UPDATE_EVENTS),
)
# An event this young is left to its webhook, most likely on its way: one recovered here is
# one the run reports as lost.
LEFT_TO_WEBHOOK = timedelta(minutes=10)
# How long Stripe keeps its events.
STRIPE_KEEPS_EVENTS = timedelta(days=30)


def stripe_events_recover(
    report: ReconcileReport, *, within: timedelta, progress: Progress = no_progress
) -> None:
    """Lists the refund and dispute events Stripe created in the last `within` (at most the
    30 days it keeps them) but the last few minutes, and handles each one not recorded here
    (or whose every delivery failed) on its own, with the webhook's own code: the payment's
    lock, the event's row claimed, the same handling. So a refund is applied once whether
    its webhook or this comes first, a dispute is flagged for a person, and a late delivery
    is `already_processed`. Stripe is called outside any transaction, a page of 100 events
    at a time; the events are handled oldest first, once the listing is done. Without
    STRIPE_SECRET_KEY there is nobody to ask."""
    if not stripe_gateway.stripe_configured():
        return
    now = timezone.now()
    missed: list[dict] = []
    try:
        for page in stripe_gateway.events_list(
            types=RECOVERED_TYPES,
            created_from=now - min(within, STRIPE_KEEPS_EVENTS),
            created_until=now - LEFT_TO_WEBHOOK,
        ):
            report.stripe_events_checked += len(page)
            missed.extend(_not_recorded(page))
    except stripe_gateway.PaymentProviderError as error:
        # The events of the pages listed are still handled; the next run lists them all.
        report.stripe_errors.append(f"Stripe events: {error.message}")
    missed.sort(key=lambda event: (_created(event), str(event.get("id"))))
    for event in missed:
        what = f"stripe event {event.get('id')} ({event.get('type')})"
        on_its_own(report, what, partial(_recover, report, event))
        progress("stripe events", 1)


def _not_recorded(page: list[dict]) -> list[dict]:
    """The page's events with no row here, or only a failed one."""
    ids = [str(event.get("id") or "") for event in page]
    recorded = set(
        PaymentEvent.objects.filter(provider=Invoice.Provider.STRIPE, event_id__in=ids)
        .exclude(outcome=PaymentEvent.Outcome.FAILED)
        .values_list("event_id", flat=True)
    )
    return [event for event, event_id in zip(page, ids, strict=True) if event_id not in recorded]


def _created(event: dict) -> int:
    created = event.get("created")
    return created if isinstance(created, int) else 0


def _recover(report: ReconcileReport, event: dict) -> None:
    if report.dry_run:
        report.stripe_events_recovered += 1
        return
    handled = stripe_event_recover(event)
    if handled is None:
        return  # its delivery came meanwhile
    report.stripe_events_recovered += 1
    refunded = event.get("type") == "charge.refunded"
    if refunded and handled.outcome == PaymentEvent.Outcome.PROCESSED:
        report.invoices_refunded += 1
