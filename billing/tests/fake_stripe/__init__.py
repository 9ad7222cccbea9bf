"""A small fake of Stripe's HTTP API on loopback, for tests that use the real SDK.

It answers Checkout Session create/retrieve/expire, PaymentIntent retrieve (of the sessions it
saw paid; `expand[]=latest_charge` gives its charge, refunded or not), refund create (400
`charge_already_refunded` for a charge refunded whole, 400 `charge_disputed` for one disputed
and not won) and the list of events (every event it
produced, whether delivered or not; `types[]`, `created[gte|gt|lte|lt]`, `limit` and
`starting_after`, newest first) as Stripe does (form-encoded requests, JSON answers,
idempotency keys, 404 `resource_missing` for an object it does not have), records every
request, fails on demand, and can produce the events Stripe would send, signed with Stripe's
scheme (`created` is `time.time()`'s, so a test's clock dates them). For browser tests it also
serves a checkout page whose Pay button completes the session, delivers the signed
`checkout.session.completed` webhook to the app and redirects to the success URL.
"""

from billing.tests.fake_stripe.fake import FakeStripe

__all__ = ["FakeStripe"]
