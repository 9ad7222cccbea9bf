"""Telling Stripe's news of one refund from another's, by the refund's id where Stripe gives
it: the news of a refund staff made at Stripe, of a payment that paid nothing here, and the
bank's refusals of a refund."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db.models import F

from billing.models import PaymentEvent
from billing.services.stripe_webhook.outcomes import PROVIDER, Outcome
from billing.services.stripe_webhook.payments import REFUND_UPDATE_EVENTS, event_object


def staff_refund_told(reference: str, news: dict) -> str:
    """The refund staff last made at Stripe of this payment, when `news` (its
    `charge.refunded`) is that refund's; else "". Stripe's `charge.refunded` names no
    refund, and Stripe delivers in any order, so it is told by the payment's other events: a
    refund is told once (news recorded as it already makes this news another refund's, made
    after the bank refused that one, even before the refusal's own delivery), and news
    created after the bank's refusal of that very refund (its id in `refund.failed` or
    `charge.refund.updated`) is of a refund made since. A refusal of another refund of the
    payment says nothing of this one."""
    of_payment = PaymentEvent.objects.filter(provider=PROVIDER, payment_reference=reference)
    staff_refund = (
        of_payment.filter(outcome=Outcome.NEEDS_REVIEW)
        .exclude(stripe_refund_id="")
        # The one being recorded now is not settled yet (payment_event_refund_at_stripe).
        .order_by(F("handled_at").desc(nulls_first=True), "-received_at")
        .values_list("stripe_refund_id", flat=True)
        .first()
    )
    if not staff_refund:
        return ""
    told = of_payment.filter(
        event_type="charge.refunded",
        outcome=Outcome.ALREADY_PROCESSED,
        stripe_refund_id=staff_refund,
    ).exclude(event_id=str(news.get("id") or ""))
    if told.exists():
        return ""
    created = news.get("created")
    for refused in refusals(reference, staff_refund):
        both_timed = isinstance(created, int) and isinstance(refused.get("created"), int)
        if not both_timed or refused["created"] < created:
            return ""
    return staff_refund


def refusals(
    reference: str, refund_id: str, *, flagged_only: bool = False, other_than: str = ""
) -> Iterator[dict]:
    """The recorded events of the bank's refusal of refund `refund_id` of the payment
    (`refund.failed`, or `charge.refund.updated` to failed, naming its id): those flagged
    for a person only, with `flagged_only`; never the event `other_than`."""
    recorded = PaymentEvent.objects.filter(
        provider=PROVIDER, payment_reference=reference, event_type__in=REFUND_UPDATE_EVENTS
    ).exclude(outcome__in=[Outcome.IGNORED, Outcome.FAILED])
    if flagged_only:
        recorded = recorded.filter(outcome=Outcome.NEEDS_REVIEW)
    if other_than:
        recorded = recorded.exclude(event_id=other_than)
    for payload in recorded.values_list("payload", flat=True):
        try:
            refusal = json.loads(payload)
        except (RecursionError, ValueError):
            continue
        refund = event_object(refusal) or {}
        if refund.get("id") == refund_id and refund.get("status") == "failed":
            yield refusal
