from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from billing import services
from billing.admin.base import ReadOnlyAdmin, ReadOnlyInline
from billing.models import (
    Invoice,
    InvoiceLineItem,
    TokenBundlePurchase,
)
from billing.receipts import receipt_answer, receipt_exists
from common.admin import money_column
from common.errors import DomainError
from common.forms import TrimmedCharField


class LineItemInline(ReadOnlyInline):
    model = InvoiceLineItem
    fields = ["position", "item_type", "description", "quantity", "unit_price", "total_price"]


class PurchaseInline(ReadOnlyInline):
    model = TokenBundlePurchase
    fields = [
        "name",
        "tokens",
        "unit_price",
        "status",
        "completed_at",
        "tokens_reversed",
        "tokens_unrecovered",
    ]


class MarkPaidForm(forms.Form):
    """The reference trimmed as the staff API trims it (common.text.trimmed): one pasted with
    a zero-width space at an end was another reference to the database's one-payment-one-
    invoice constraint, so one transfer paid two invoices, and one of invisible characters
    alone paid an invoice by a reference that reads as nothing."""

    payment_reference = TrimmedCharField(
        max_length=255, help_text="The bank transfer, receipt or payment id that paid it."
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "user",
        "status",
        "total_shown",
        "provider",
        "payment_reference",
        "stripe_session_id",
        "created_at",
        "paid_at",
        "refunded_at",
    ]
    # Newest first along the created_at index (migration 0008), and dates by the filter's
    # ranges, which the index serves too. No date_hierarchy: it lists the years, months or
    # days that have invoices with a DISTINCT over every invoice of the range, a whole-table
    # read on each load (300,000 invoices: 170-220 ms), as the ledger's list found.
    list_filter = ["status", "provider", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["number", "user__email", "payment_reference"]
    list_select_related = ["user", "currency"]
    total_shown = money_column("total", "total")
    # Counting the whole table for "(N total)" beside a filtered list reads every invoice.
    show_full_result_count = False
    inlines = [LineItemInline, PurchaseInline]
    actions = ["mark_paid", "cancel", "refund"]
    change_form_template = "admin/billing/invoice/change_form.html"

    # The buttons of the change page: which statuses each one is for, and what it says.
    OPERATIONS = {
        "mark-paid": (Invoice.Status.PENDING, "Mark paid"),
        "cancel": (Invoice.Status.PENDING, "Cancel"),
        "refund": (Invoice.Status.PAID, "Refund"),
    }

    def get_urls(self) -> list:
        operation = self.admin_site.admin_view(self.operation_view)
        receipt = self.admin_site.admin_view(self.receipt_view)
        return [
            path("<path:object_id>/receipt.pdf", receipt, name="billing_invoice_receipt"),
            *(
                path(
                    f"<path:object_id>/{name}/",
                    operation,
                    {"operation": name},
                    name=f"billing_invoice_{name.replace('-', '_')}",
                )
                for name in self.OPERATIONS
            ),
            *super().get_urls(),
        ]

    def receipt_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The receipt the customer has, for support (staff who may view invoices)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        head = request.method == "HEAD"
        try:
            return receipt_answer(invoice_id=unquote(object_id), head=head)
        except (DomainError, ValidationError) as error:
            raise Http404("This invoice has no receipt.") from error

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        invoice = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {})}
        if invoice is not None:
            extra["operations"] = (
                [
                    (name, label, operation_url(invoice, name))
                    for name, (status, label) in self.OPERATIONS.items()
                    if invoice.status == status
                ]
                if self.may_operate(request)
                else []
            )
            extra["receipt_url"] = (
                reverse("admin:billing_invoice_receipt", args=[invoice.pk])
                if receipt_exists(invoice)
                else None
            )
        return super().change_view(request, object_id, form_url, extra)

    def may_operate(self, request: HttpRequest) -> bool:
        """Changing an invoice's state moves money and tokens: staff who may change
        invoices (superusers and those given the permission), not those who only view."""
        return request.user.has_perm("billing.change_invoice")

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """The list's actions, like the invoice page's buttons (`permissions=["operate"]`)."""
        return self.may_operate(request)

    def operation_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """GET asks for confirmation (and, to mark paid, the payment reference); POST does it
        through the billing services and goes back to the invoice with what happened."""
        if not self.may_operate(request):
            raise PermissionDenied
        invoice = self.get_object(request, unquote(object_id))
        if invoice is None:
            raise Http404("No such invoice.")
        change_url = reverse("admin:billing_invoice_change", args=[invoice.pk])
        form = MarkPaidForm(request.POST or None) if operation == "mark-paid" else None
        if request.method == "POST" and (form is None or form.is_valid()):
            self._operate(request, invoice, operation, form)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{self.OPERATIONS[operation][1]} {invoice}?",
            "invoice": invoice,
            "operation": operation,
            "label": self.OPERATIONS[operation][1],
            "form": form,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/billing/invoice/confirm.html", context)

    def _operate(
        self, request: HttpRequest, invoice: Invoice, operation: str, form: MarkPaidForm | None
    ) -> None:
        try:
            if operation == "mark-paid":
                done = _marked_paid(
                    services.invoice_mark_paid(
                        invoice_id=invoice.pk,
                        payment_reference=form.cleaned_data["payment_reference"],
                        actor_id=request.user.pk,
                    )
                )
            elif operation == "cancel":
                services.invoice_cancel(invoice_id=invoice.pk, actor_id=request.user.pk)
                done = f"{invoice} is cancelled."
            else:
                result = services.invoice_refund_with_provider(
                    invoice_id=invoice.pk, actor_id=request.user.pk
                )
                done = _refunded(invoice, result)
        except DomainError as error:
            self.message_user(
                request, f"{invoice}: {error.message} Nothing changed.", messages.ERROR
            )
        else:
            self.message_user(request, done, messages.SUCCESS)

    @admin.action(description="Mark paid (asks for the payment reference)", permissions=["operate"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one invoice to mark paid.", messages.ERROR)
            return None
        invoice = queryset.get()
        form = MarkPaidForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            try:
                result = services.invoice_mark_paid(
                    invoice_id=invoice.pk,
                    payment_reference=form.cleaned_data["payment_reference"],
                    actor_id=request.user.pk,
                )
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, _marked_paid(result), messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mark {invoice} paid",
            "invoice": invoice,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/billing/invoice/mark_paid.html", context)

    @admin.action(description="Cancel the selected pending invoices", permissions=["operate"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        for invoice in queryset:
            try:
                services.invoice_cancel(invoice_id=invoice.pk, actor_id=request.user.pk)
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{invoice} is cancelled.", messages.SUCCESS)

    @admin.action(
        description="Refund the selected paid invoices (Stripe too)", permissions=["operate"]
    )
    def refund(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        """Asks first, as the invoice page's Refund and Django's delete do: a refund returns
        money and cannot be undone, and choosing the action refunded at once, so one
        misclick in the action list refunded every invoice ticked."""
        if not request.POST.get("post"):
            invoices = list(queryset.select_related("user", "currency"))
            context = {
                **self.admin_site.each_context(request),
                "title": "Refund the selected invoices?",
                "invoices": invoices,
                # What the button says it refunds: the others are refused, not refunded.
                "paid_count": sum(invoice.status == Invoice.Status.PAID for invoice in invoices),
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/billing/invoice/refund_selected.html", context)
        for invoice in queryset:
            try:
                result = services.invoice_refund_with_provider(
                    invoice_id=invoice.pk, actor_id=request.user.pk
                )
            except DomainError as error:
                self.message_user(request, f"{invoice}: {error.message}", messages.ERROR)
                continue
            self.message_user(request, _refunded(invoice, result), messages.SUCCESS)
        return None


def operation_url(invoice: Invoice, operation: str) -> str:
    return reverse(f"admin:billing_invoice_{operation.replace('-', '_')}", args=[invoice.pk])


def _marked_paid(result: services.CaptureResult) -> str:
    """What marking paid did: the same payment again (a second tab, the page sent twice) did
    nothing, and saying it paid the invoice then was untrue, of a refunded one too."""
    invoice = result.invoice
    if result.status == "success":
        return f"{invoice} is paid: its tokens are credited and its plan is active."
    if invoice.status == Invoice.Status.REFUNDED:
        return (
            f"{invoice} was paid with {invoice.payment_reference} and has been refunded since; "
            "nothing changed."
        )
    return f"{invoice} was already paid with {invoice.payment_reference}; nothing changed."


def _refunded(invoice: Invoice, result: services.RefundResult) -> str:
    """What the refund did, with why no money went back when none did, as the staff API's
    `provider_refund_skipped` says: a payment made outside Stripe (a bank transfer marked
    paid) is returned by a person, and saying only "refunded" left it unpaid."""
    unrecovered = (
        f"; {result.tokens_unrecovered} tokens were already spent or had expired"
        if result.tokens_unrecovered
        else ""
    )
    # A plan's included tokens are voided, not counted with the purchases': a plan's refund
    # said "0 tokens taken back" while it had just taken the customer's 100 included ones.
    included = (
        f"; {result.included_tokens_voided} included tokens of its plan voided"
        if result.included_tokens_voided
        else ""
    )
    stripe = {
        "disputed": " Stripe refunded nothing: the payment is disputed, so the customer's bank"
        " has the money (answer or accept the dispute at Stripe).",
        "already_refunded": " Stripe refunded nothing now: it had refunded this payment already.",
        "not_stripe": " No money went back to the customer: it was paid outside Stripe"
        f" ({result.invoice.provider}, {result.invoice.payment_reference}); return it yourself.",
    }.get(result.provider_refund_skipped or "", "")
    return (
        f"{invoice} is refunded: {result.tokens_reversed} tokens taken back{unrecovered}"
        f"{included}.{stripe}"
    )
