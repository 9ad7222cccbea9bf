"""Receipts as PDF: the user's own (GET /user/invoices/{id}/pdf) and any, for staff."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.receipts import Receipt, invoice_receipt
from common.api.schema import ApiAutoSchema, error_response

PDF = "application/pdf"


class PdfRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; the view answers the bytes itself."""

    media_type = PDF
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data


class ErrorsInJsonSchema(ApiAutoSchema):
    """The errors are JSON whatever the client accepted; only the 200 is a PDF."""

    def map_renderers(self, attribute: str) -> list:
        return [getattr(JSONRenderer, attribute)]


class ReceiptPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]
    schema = ErrorsInJsonSchema()

    def finalize_response(self, request: Request, response, *args, **kwargs):
        """An error is JSON in the contract's shape even when the client asked for a PDF."""
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @staticmethod
    def pdf(receipt: Receipt) -> HttpResponse:
        response = HttpResponse(receipt.pdf, content_type=PDF)
        response["Content-Disposition"] = f'inline; filename="{receipt.filename}"'
        return response


RECEIPT_RESPONSES = {
    (200, PDF): OpenApiResponse(
        response=OpenApiTypes.BINARY,
        description="The receipt: seller, invoice number, lines, totals, payment and dates.",
    ),
    409: error_response("`invalid_state`: pending or cancelled; a receipt exists once paid."),
}


class InvoicePdfView(ReceiptPdfView):
    @extend_schema(tags=["invoices"], responses=RECEIPT_RESPONSES)
    def get(self, request: Request, pk: UUID) -> HttpResponse:
        return self.pdf(invoice_receipt(invoice_id=pk, user_id=request.user.pk))


class StaffInvoicePdfView(ReceiptPdfView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(tags=["staff: invoices"], responses=RECEIPT_RESPONSES)
    def get(self, request: Request, pk: UUID) -> HttpResponse:
        return self.pdf(invoice_receipt(invoice_id=pk))
