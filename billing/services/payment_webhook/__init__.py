"""The provider-neutral capture webhook: verify, record, capture.

`delivery` receives a delivery (verify the signature, claim the event's row, capture, record
the outcome); `notice` reads what its body says. Import from here.
"""

from billing.services.payment_webhook.delivery import (
    EVENT_TYPE,
    EventIdReused,
    InvalidSignature,
    WebhookAnswer,
    payment_event_capture,
    payment_webhook_process,
    signature_verify,
)
from billing.services.payment_webhook.notice import PaymentNotice, payment_notice_parse

__all__ = [
    "EVENT_TYPE",
    "EventIdReused",
    "InvalidSignature",
    "PaymentNotice",
    "WebhookAnswer",
    "payment_event_capture",
    "payment_notice_parse",
    "payment_webhook_process",
    "signature_verify",
]
