"""Stripe's webhook: verified by the SDK, stored once per event id, acted on with the event row
in the same transaction.

Stripe delivers at least once, in any order. So a refund that arrives before its capture is
held (outcome `held`) and applied when the capture comes; an expired session is only no
longer handed out (paying again makes a new one); whatever the order of completed, expired
and refunded, an invoice ends in the same state.
Anything that cannot be acted on safely is recorded as `needs_review`, credited nothing and
answered 200, so Stripe does not retry it forever.

`delivery` receives a delivery (verify, claim the event's row, record its outcome),
`payments` says which payment an event is about and handles one payment's events one at a
time, `handlers` acts on each type of event (`disputes` on a chargeback's, `staff_refunds`
tells the news of a refund staff made at Stripe), `outcomes` is what handling came to and its
record. Import from here.
"""

from billing.services.stripe_webhook.delivery import (
    stripe_event_recover,
    stripe_session_payment_recover,
    stripe_webhook_process,
)
from billing.services.stripe_webhook.handlers import (
    held_refund_apply,
    held_refunds_captured,
    stripe_event_handle,
    stripe_payment_refund,
    stripe_session_capture,
)
from billing.services.stripe_webhook.outcomes import Handled, event_outcome_record
from billing.services.stripe_webhook.payments import stripe_payment_lock

__all__ = [
    "Handled",
    "event_outcome_record",
    "held_refund_apply",
    "held_refunds_captured",
    "stripe_event_handle",
    "stripe_event_recover",
    "stripe_payment_lock",
    "stripe_payment_refund",
    "stripe_session_capture",
    "stripe_session_payment_recover",
    "stripe_webhook_process",
]
