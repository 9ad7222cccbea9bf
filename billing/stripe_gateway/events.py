"""The events Stripe has sent: listed, so reconciliation finds those whose webhook never came."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import stripe

from billing.stripe_gateway.client import PaymentProviderError, stripe_client

# Stripe's largest page.
EVENTS_PAGE = 100


def events_list(
    *, types: Sequence[str], created_from: datetime, created_until: datetime
) -> Iterator[list[dict]]:
    """The events of `types` Stripe created from `created_from` until `created_until` (it
    keeps 30 days of them), newest first, a page at a time: each page is one call to Stripe,
    made as the caller asks for it, so the caller iterates outside any transaction. Each
    event is plain JSON, as its webhook delivery carries it.

    Raises PaymentProviderError when Stripe cannot be asked (the pages before it stand).
    """
    params: dict = {
        "types": list(types),
        "created": {"gte": int(created_from.timestamp()), "lte": int(created_until.timestamp())},
        "limit": EVENTS_PAGE,
    }
    while True:
        try:
            page = stripe_client().v1.events.list(params=params).to_dict(for_json=True)
        except stripe.StripeError as error:
            raise PaymentProviderError("Stripe could not list its events.") from error
        events = [event for event in page.get("data") or [] if isinstance(event, dict)]
        if events:
            yield events
        last = str(events[-1].get("id") or "") if events else ""
        if not page.get("has_more") or not last:
            return
        params = {**params, "starting_after": last}
