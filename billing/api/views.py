from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import StaffMayChangeInvoices, StaffMayViewInvoices
from billing import selectors, services
from billing.api.bodies import checkout_body
from billing.api.serializers import (
    CheckoutRequestSerializer,
    CheckoutResponseSerializer,
    CurrentSubscriptionSerializer,
    InvoiceListQuerySerializer,
    InvoiceSerializer,
    MarkPaidRequestSerializer,
    PayRequestSerializer,
    PayResponseSerializer,
    StaffInvoiceListQuerySerializer,
    StaffInvoiceSerializer,
    StaffRefundSerializer,
)
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import PagePagination
from common.api.schema import error_response

CHECKOUT_MESSAGE = "Checkout created. Awaiting payment."


def _page(request: Request, view: APIView, invoices, serializer) -> Response:
    paginator = PagePagination()
    page = paginator.paginate_queryset(invoices, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


class CheckoutView(APIView):
    @extend_schema(
        tags=["checkout"],
        parameters=[idempotency_parameter(required=False)],
        request=CheckoutRequestSerializer,
        responses={
            201: CheckoutResponseSerializer,
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=False, body=CheckoutRequestSerializer)
        payload = CheckoutRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return idempotent(
            request, key, lambda: self._checkout(request, key, payload.validated_data)
        )

    @staticmethod
    def _checkout(request: Request, key: str | None, data: dict) -> Response:
        result = services.checkout_create(
            user_id=request.user.pk,
            plan_id=data.get("plan_id"),
            token_bundle_ids=data["token_bundle_ids"],
            add_on_ids=data["add_on_ids"],
            idempotency_key=f"checkout:{key}" if key else "",
        )
        pay_url = reverse("billing:invoice-pay", args=[result.invoice.pk])
        body = checkout_body(
            result,
            message=CHECKOUT_MESSAGE,
            next_step={"action": "pay", "method": "POST", "url": pay_url},
        )
        return Response(body, status=status.HTTP_201_CREATED)


class InvoiceListView(APIView):
    pagination_class = PagePagination

    @extend_schema(
        tags=["invoices"],
        parameters=[InvoiceListQuerySerializer],
        responses=InvoiceSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = InvoiceListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        invoices = selectors.invoices_of_user(
            user_id=request.user.pk, status=query.validated_data.get("status")
        )
        return _page(request, self, invoices, InvoiceSerializer)


class InvoiceDetailView(APIView):
    @extend_schema(tags=["invoices"], responses=InvoiceSerializer)
    def get(self, request: Request, pk: UUID) -> Response:
        invoice = selectors.invoice_with_items(invoice_id=pk, user_id=request.user.pk)
        return Response(InvoiceSerializer(invoice).data)


class InvoiceCancelView(APIView):
    @extend_schema(
        tags=["invoices"],
        request=None,
        responses={
            200: InvoiceSerializer,
            409: error_response(
                "`invalid_state`: only a pending invoice can be cancelled, and not once Stripe "
                "has taken a payment for it (its webhook captures it)."
            ),
            502: error_response(
                "`payment_provider_error`: Stripe could not be asked to end the invoice's "
                "checkout session; nothing changed."
            ),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        services.invoice_cancel(invoice_id=pk, user_id=request.user.pk)
        invoice = selectors.invoice_with_items(invoice_id=pk)
        return Response(InvoiceSerializer(invoice).data)


class InvoicePayView(APIView):
    @extend_schema(
        tags=["invoices"],
        request=PayRequestSerializer,
        responses={
            200: PayResponseSerializer,
            409: error_response(
                "`invalid_state`: the invoice is not pending, or Stripe has taken a payment "
                "on the session this one would replace."
            ),
            502: error_response("`payment_provider_error`: Stripe failed; nothing was charged."),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        payload = PayRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        started = services.invoice_pay_start(
            invoice_id=pk, user_id=request.user.pk, provider=payload.validated_data["provider"]
        )
        # The test provider's page is a path of this server; Stripe's URL is absolute already.
        started = replace(started, checkout_url=request.build_absolute_uri(started.checkout_url))
        return Response(PayResponseSerializer(started).data)


class SubscriptionView(APIView):
    @extend_schema(
        tags=["invoices"],
        responses={
            200: CurrentSubscriptionSerializer,
            404: error_response("`not_found`: no active or pending subscription."),
        },
    )
    def get(self, request: Request) -> Response:
        subscription = selectors.subscription_current(user_id=request.user.pk)
        return Response(CurrentSubscriptionSerializer(subscription).data)


class StaffInvoiceListView(APIView):
    permission_classes = [permissions.IsAdminUser, StaffMayViewInvoices]
    pagination_class = PagePagination

    @extend_schema(
        tags=["staff: invoices"],
        parameters=[StaffInvoiceListQuerySerializer],
        responses=StaffInvoiceSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = StaffInvoiceListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        invoices = selectors.invoices_for_staff(
            status=query.validated_data.get("status"), user_id=query.validated_data.get("user")
        )
        return _page(request, self, invoices, StaffInvoiceSerializer)


class StaffMarkPaidView(APIView):
    permission_classes = [permissions.IsAdminUser, StaffMayChangeInvoices]

    @extend_schema(
        tags=["staff: invoices"],
        request=MarkPaidRequestSerializer,
        responses={
            200: StaffInvoiceSerializer,
            403: StaffMayChangeInvoices.refused,
            409: error_response(
                "`invalid_state`: cancelled, paid by another payment, Stripe has taken a "
                "payment for it (its webhook captures it), or a payment was started meanwhile."
            ),
            502: error_response(
                "`payment_provider_error`: its Stripe session could not be ended; nothing changed."
            ),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        payload = MarkPaidRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.invoice_mark_paid(
            invoice_id=pk,
            payment_reference=payload.validated_data["payment_reference"],
            actor_id=request.user.pk,
        )
        invoice = selectors.invoices_for_staff().get(pk=pk)
        return Response(StaffInvoiceSerializer(invoice).data)


class StaffRefundView(APIView):
    permission_classes = [permissions.IsAdminUser, StaffMayChangeInvoices]

    @extend_schema(
        tags=["staff: invoices"],
        request=None,
        responses={
            200: StaffRefundSerializer,
            403: StaffMayChangeInvoices.refused,
            409: error_response("`already_refunded`, or `invalid_state` when not paid."),
            502: error_response(
                "`payment_provider_error`: Stripe did not refund; nothing changed."
            ),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        refund = services.invoice_refund_with_provider(invoice_id=pk, actor_id=request.user.pk)
        invoice = selectors.invoices_for_staff().get(pk=pk)
        return Response(StaffRefundSerializer(invoice, context={"refund": refund}).data)
