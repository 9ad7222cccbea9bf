"""The test provider's checkout page: says plainly that no money moves, shows the invoice, and
offers Pay and Decline. Session auth and CSRF, like the other pages; 404 unless
PAYMENTS_TEST_MODE is on."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.hosted.forms import CheckoutDecisionForm
from billing.services import payments_test_mode as test_mode
from common.errors import DomainError, NotFound

# Where a payer comes back to, as from Stripe Checkout (billing.stripe_gateway).
SUCCESS_PATH = "/purchase/success?invoice={invoice_id}"
CANCEL_PATH = "/purchase/cancel?invoice={invoice_id}"


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def checkout_page(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    if not test_mode.payments_test_mode_on():
        raise Http404("Test payments are off.")
    try:
        if request.method == "POST":
            return _decide(request, invoice_id)
        invoice, token = test_mode.checkout_page_open(
            invoice_id=invoice_id, user_id=request.user.pk
        )
    except NotFound as error:
        raise Http404(error.message) from error
    except DomainError as error:
        return _refused(request, invoice_id, error)
    form = CheckoutDecisionForm(initial={"form_token": token})
    return render(request, "billing/test_checkout.html", {"invoice": invoice, "form": form})


def _decide(request: HttpRequest, invoice_id: UUID) -> HttpResponse:
    form = CheckoutDecisionForm(request.POST)
    if not form.is_valid():
        return _refused(request, invoice_id, test_mode.FormTokenInvalid())
    decide = {"pay": test_mode.checkout_page_pay, "decline": test_mode.checkout_page_decline}
    decide[form.cleaned_data["decision"]](
        invoice_id=invoice_id, user_id=request.user.pk, form_token=form.cleaned_data["form_token"]
    )
    back = SUCCESS_PATH if form.cleaned_data["decision"] == "pay" else CANCEL_PATH
    return redirect(back.format(invoice_id=invoice_id))


def _refused(request: HttpRequest, invoice_id: UUID, error: DomainError) -> HttpResponse:
    """400 for a stale or foreign form (open the page again), 409 for an invoice past paying
    or a form already used. The 409 of a paid or refunded invoice is met by the payer who did
    pay (Back onto the page, Pay pressed twice): it says the invoice is paid and leads to the
    receipt, as the purchase page does, rather than "Nothing was done"."""
    if error.http_status == 409:
        settled = test_mode.checkout_page_settled(invoice_id=invoice_id, user_id=request.user.pk)
        if settled is not None:
            receipt = SUCCESS_PATH.format(invoice_id=settled.pk)
            context = {"invoice": settled, "error": error, "receipt": receipt}
            return render(request, "billing/test_checkout_paid.html", context, status=409)
    reopen = test_mode.checkout_page_path(invoice_id) if error.http_status == 400 else None
    context = {"error": error, "reopen": reopen}
    return render(request, "billing/test_checkout_refused.html", context, status=error.http_status)
