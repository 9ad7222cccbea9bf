"""PDF receipts of paid and refunded invoices: the invoice's own template, drawn by WeasyPrint
(on Debian's Pango), with the seller's details from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string

from billing.models import Invoice
from billing.selectors import invoice_get, invoice_with_items
from common.errors import InvalidState

RECEIPT_STATUSES = frozenset({Invoice.Status.PAID, Invoice.Status.REFUNDED})
PDF = "application/pdf"


class NoReceipt(InvalidState):
    default_message = "A receipt exists once the invoice is paid."


@dataclass(frozen=True)
class Receipt:
    filename: str
    pdf: bytes


def receipt_exists(invoice: Invoice) -> bool:
    """Paid invoices have a receipt, and keep it once refunded (it then says so)."""
    return invoice.status in RECEIPT_STATUSES


def invoice_receipt(*, invoice_id: UUID, user_id: UUID | None = None) -> Receipt:
    """The invoice's receipt as a PDF; with `user_id`, only that user's invoice.

    Raises NotFound (another user's invoice too) and NoReceipt for a pending or cancelled one.
    """
    invoice = _with_receipt(invoice_with_items(invoice_id=invoice_id, user_id=user_id))
    return Receipt(filename=receipt_filename(invoice), pdf=receipt_pdf(invoice))


def receipt_answer(
    *, invoice_id: UUID, user_id: UUID | None = None, head: bool = False
) -> HttpResponse | StreamingHttpResponse:
    """The receipt as an answer, shown inline: the API's, the page's and the admin's. For a
    HEAD, GET's headers after the same checks, drawing nothing (Django answers HEAD with the
    GET view, which drew the PDF to throw it away). Its length is known only once drawn, so
    none is sent: an answer of no parts, to which CommonMiddleware adds no wrong
    `Content-Length: 0`. Raises as invoice_receipt."""
    if head:
        filename = invoice_receipt_filename(invoice_id=invoice_id, user_id=user_id)
        response = StreamingHttpResponse((), content_type=PDF)
    else:
        receipt = invoice_receipt(invoice_id=invoice_id, user_id=user_id)
        filename = receipt.filename
        response = HttpResponse(receipt.pdf, content_type=PDF)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def invoice_receipt_filename(*, invoice_id: UUID, user_id: UUID | None = None) -> str:
    """The name invoice_receipt would send its PDF under, after the same checks, without
    drawing it (one read): what a HEAD of the receipt answers. Raises as invoice_receipt."""
    return receipt_filename(_with_receipt(invoice_get(invoice_id=invoice_id, user_id=user_id)))


def receipt_filename(invoice: Invoice) -> str:
    return f"receipt-{invoice.number}.pdf"


def _with_receipt(invoice: Invoice) -> Invoice:
    if not receipt_exists(invoice):
        raise NoReceipt(
            f"Invoice {invoice.number} is {invoice.status}: a receipt exists once it is paid."
        )
    return invoice


def receipt_pdf(invoice: Invoice) -> bytes:
    """Draws the receipt. WeasyPrint is imported here, on first use: it loads Pango when
    imported, and nothing else in the service needs it."""
    from weasyprint import HTML

    seller = {
        "name": settings.SELLER_NAME,
        "address": settings.SELLER_ADDRESS,
        "email": settings.SELLER_EMAIL,
        "tax_id": settings.SELLER_TAX_ID,
    }
    html = render_to_string(
        "billing/receipt.html",
        {"invoice": invoice, "lines": list(invoice.line_items.all()), "seller": seller},
    )
    return HTML(string=html, url_fetcher=_fetch_nothing).write_pdf()


def _fetch_nothing(url: str, *args, **kwargs) -> dict:
    """The receipt is self-contained: it never loads anything from a URL or a file."""
    raise ValueError(f"Receipts load no resources ({url}).")
