"""Which payment a Stripe event is about, and handling the events of one payment one at a
time (delivery, re-processing and reconciliation all lock it before any row)."""

from __future__ import annotations

from django.db import connection

PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
DISPUTE_EVENT = "charge.dispute.created"
# The bank's decision on a dispute: `lost` (the money stays with the customer) or `won`.
DISPUTE_CLOSED_EVENT = "charge.dispute.closed"
# A refund's later news: the bank may refuse it (status `failed`) after charge.refunded.
REFUND_UPDATE_EVENTS = {"charge.refund.updated", "refund.failed"}
# The event id of a paid session's record made by reconciliation, which has no event.
SESSION_PAYMENT_FOUND = "session_paid:"


def event_object(event: object) -> dict | None:
    """The event's `data.object`, or None when it carries none: a verified event is still
    untrusted in shape."""
    data = event.get("data") if isinstance(event, dict) else None
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else None


def stripe_payment_lock(event: object) -> None:
    """Handles the events of one payment one at a time, inside the caller's transaction and
    before it locks any row. Without it a refund read before its capture had committed was
    held, and the capture, which cannot see a hold not yet committed, never applied it: the
    invoice stayed paid. (SQLite runs one writing transaction at a time anyway.)"""
    found = event_object(event)
    if found is None:
        return
    kind = event.get("type")
    if kind in PAID_EVENTS:
        payment_lock(session_reference(found))
    elif kind in ("charge.refunded", DISPUTE_EVENT, DISPUTE_CLOSED_EVENT) or (
        kind in REFUND_UPDATE_EVENTS
    ):
        payment_lock(charge_reference(found))


def payment_lock(reference: str) -> None:
    """A transaction-scoped lock on the payment (PgBouncer's transaction pooling keeps it);
    taking it again in the same transaction is free."""
    if not reference or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"stripe-payment:{reference}"],
        )


def session_reference(session: dict) -> str:
    """A paid session's payment: its PaymentIntent, or the session when it has none."""
    return str(session.get("payment_intent") or session.get("id") or "")


def charge_reference(charge: dict) -> str:
    """A charge's (or a dispute's, or a refund's) payment: its PaymentIntent, as a session's
    capture recorded it."""
    return str(charge.get("payment_intent") or "")
