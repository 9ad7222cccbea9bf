"""The payment providers' calls: each checks its signature on the raw body, carries no JWT and
is never throttled (providers retry)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    PaymentWebhookRequestSerializer,
    PaymentWebhookResponseSerializer,
    StripeWebhookResponseSerializer,
)
from billing.services.payment_webhook import payment_webhook_process
from billing.services.stripe_webhook import stripe_webhook_process
from common import metrics
from common.api.schema import error_response
from common.api.throttling import ForgedWebhookThrottle

logger = logging.getLogger(__name__)


class SignedWebhookView(APIView):
    reads_raw_body = True
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []
    provider = ""

    @classmethod
    def too_large_refused(cls, request: HttpRequest) -> None:
        """A body past 1 MiB, refused before the view runs: counted as a refused delivery,
        as a bad signature is, and logged with its size, since no row records it (junk is
        not worth one). A genuine event that large is refused at each retry and lost."""
        metrics.webhook_refused(provider=cls.provider, reason="too_large")
        logger.warning(
            "A %s webhook delivery of %s bytes was refused (413): over 1 MiB.",
            cls.provider,
            request.META.get("CONTENT_LENGTH") or "unknown",
        )


class PaymentWebhookView(SignedWebhookView):
    """Signed by the provider, not authenticated by JWT; never throttled (providers retry)."""

    provider = "payment"

    @extend_schema(
        tags=["webhooks"],
        request=PaymentWebhookRequestSerializer,
        responses={
            200: PaymentWebhookResponseSerializer,
            400: error_response(
                "`invalid_signature`, `validation_error`, `amount_mismatch` or "
                "`currency_mismatch`; recorded (a sender's bad signatures beyond "
                "THROTTLE_FORGED_WEBHOOKS are not), nothing else changes."
            ),
            404: error_response("`not_found`: no such invoice; recorded."),
            409: error_response("`invalid_state`: the invoice is cancelled or paid otherwise."),
            413: error_response("`too_large`: over 1 MiB; counted and logged, not recorded."),
            422: error_response(
                "`event_id_reused`: the event_id came before with another payment; recorded "
                "as needs_review for a person, nothing captured."
            ),
            500: error_response("Processing failed: recorded; the provider retries the delivery."),
        },
    )
    def post(self, request: Request) -> Response:
        answer = payment_webhook_process(
            raw_body=request.body,
            signature_header=request.headers.get("X-Payment-Signature"),
            secrets=settings.PAYMENT_WEBHOOK_SECRETS,
            forgery_recordable=lambda: ForgedWebhookThrottle().allow_request(request, self),
        )
        return Response(PaymentWebhookResponseSerializer(answer).data)


class StripeWebhookView(SignedWebhookView):
    """Verified by the Stripe SDK with STRIPE_WEBHOOK_SECRET; never throttled."""

    provider = "stripe"

    @extend_schema(
        tags=["webhooks"],
        request={"application/json": dict},
        responses={
            200: StripeWebhookResponseSerializer,
            400: error_response(
                "`invalid_signature` (recorded, but a sender's beyond "
                "THROTTLE_FORGED_WEBHOOKS are not), or `validation_error` for a signed body "
                "nested too deeply to parse or holding a NUL or a lone surrogate (recorded); "
                "nothing else changes."
            ),
            413: error_response("`too_large`: over 1 MiB; counted and logged, not recorded."),
            500: error_response("Processing failed: recorded; Stripe retries the delivery."),
        },
    )
    def post(self, request: Request) -> Response:
        outcome = stripe_webhook_process(
            raw_body=request.body,
            signature_header=request.headers.get("Stripe-Signature"),
            forgery_recordable=lambda: ForgedWebhookThrottle().allow_request(request, self),
        )
        body = {"received": True, "outcome": outcome}
        return Response(StripeWebhookResponseSerializer(body).data)
