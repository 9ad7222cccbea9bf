"""Receipts as PDF: the user's own (GET /user/invoices/{id}/pdf) and any, for staff."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import StaffMayViewInvoices
from billing.receipts import PDF, receipt_answer
from common.api.files import AnswersAFile, FileRenderer
from common.api.schema import error_response
from common.api.throttling import ReceiptThrottle


class PdfRenderer(FileRenderer):
    media_type = PDF
    format = "pdf"


class ReceiptPdfView(AnswersAFile):
    renderer_classes = [JSONRenderer, PdfRenderer]


RECEIPT_RESPONSES = {
    (200, PDF): OpenApiResponse(
        response=OpenApiTypes.BINARY,
        description="The receipt: seller, invoice number, lines, totals, payment and dates.",
    ),
    409: error_response("`invalid_state`: pending or cancelled; a receipt exists once paid."),
}


class InvoicePdfView(ReceiptPdfView):
    # Each receipt is drawn anew: THROTTLE_RECEIPTS per user, beside the API's own limits.
    throttle_classes = [*APIView.throttle_classes, ReceiptThrottle]

    @extend_schema(tags=["invoices"], responses=RECEIPT_RESPONSES)
    def get(self, request: Request, pk: UUID) -> HttpResponse:
        return receipt_answer(invoice_id=pk, user_id=request.user.pk)

    def head(self, request: Request, pk: UUID) -> StreamingHttpResponse:
        return receipt_answer(invoice_id=pk, user_id=request.user.pk, head=True)

    def get_throttles(self) -> list:
        """A HEAD draws nothing, so it is not counted among the receipts drawn."""
        if self.request.method == "HEAD":
            return [throttle() for throttle in APIView.throttle_classes]
        return super().get_throttles()


class StaffInvoicePdfView(ReceiptPdfView):
    permission_classes = [permissions.IsAdminUser, StaffMayViewInvoices]

    @extend_schema(tags=["staff: invoices"], responses=RECEIPT_RESPONSES)
    def get(self, request: Request, pk: UUID) -> HttpResponse:
        return receipt_answer(invoice_id=pk)

    def head(self, request: Request, pk: UUID) -> StreamingHttpResponse:
        return receipt_answer(invoice_id=pk, head=True)
