"""Stripe, through its official SDK: the only package that talks to Stripe.

Every function here but `key_livemode`, `stripe_configured` and the `webhook_event_` ones makes
a network call, so callers run them outside database transactions. SDK failures become
PaymentProviderError (502 in the API). `client` makes the SDK's client and holds the errors,
`checkout` the Checkout Sessions, `payments` a payment and its refund, `webhooks` what Stripe
sends us, `events` the events it has sent. Import from here.
"""

from billing.stripe_gateway.checkout import (
    CheckoutSession,
    checkout_session_create,
    checkout_session_expire,
    checkout_session_retrieve,
)
from billing.stripe_gateway.client import (
    MAX_NETWORK_RETRIES,
    MAX_RETRY_DELAY_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    InvalidStripeSignature,
    PaymentAlreadyRefunded,
    PaymentDisputed,
    PaymentProviderError,
    PaymentUnknownToStripe,
    stripe_amount_text,
    stripe_configured,
)
from billing.stripe_gateway.events import events_list
from billing.stripe_gateway.payments import StripePayment, payment_retrieve, refund_create
from billing.stripe_gateway.webhooks import (
    key_livemode,
    webhook_event_parse,
    webhook_event_verify,
)

__all__ = [
    "MAX_NETWORK_RETRIES",
    "MAX_RETRY_DELAY_SECONDS",
    "REQUEST_TIMEOUT_SECONDS",
    "CheckoutSession",
    "InvalidStripeSignature",
    "PaymentAlreadyRefunded",
    "PaymentDisputed",
    "PaymentProviderError",
    "PaymentUnknownToStripe",
    "StripePayment",
    "checkout_session_create",
    "checkout_session_expire",
    "checkout_session_retrieve",
    "events_list",
    "key_livemode",
    "payment_retrieve",
    "refund_create",
    "stripe_amount_text",
    "stripe_configured",
    "webhook_event_parse",
    "webhook_event_verify",
]
