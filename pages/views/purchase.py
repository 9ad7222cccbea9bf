"""Buying: the purchase page, the receipt that waits for the payment, and the way back."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from billing import services as billing
from billing.selectors import subscription_active
from catalog.selectors import default_currency
from common.api.fields import api_time
from common.errors import DomainError, Invalid, NotFound
from pages import selectors
from pages.context_processors import header_reads
from pages.forms import PurchaseForm
from pages.services import PurchaseCancelled, purchase_start, purchase_success_url
from pages.views.helpers import json_login_required
from tokens.selectors import token_balance


@login_required
@require_http_methods(["GET", "POST"])
def purchase(request: HttpRequest) -> HttpResponse:
    """Bundles, plans and add-ons with a running total; Buy checks out and goes to pay."""
    prices = selectors.price_list()
    form = PurchaseForm(
        request.POST or None, price_list=prices, initial={"submission": uuid.uuid4()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            target = purchase_start(
                user_id=request.user.pk,
                plan_id=form.cleaned_data["plan"],
                bundle_ids=form.cleaned_data["bundles"],
                add_on_ids=form.cleaned_data["add_ons"],
                submission=form.cleaned_data["submission"],
            )
        except Invalid as error:
            form.add_checkout_error(error)
        except PurchaseCancelled as error:
            messages.error(request, error.message)
            form = form.with_new_submission()
        except DomainError as error:
            messages.error(request, error.message)
        else:
            return redirect(target)
    context = {
        "prices": prices,
        "currency": default_currency(),
        "form": form,
        "chosen": {str(value) for value in form["bundles"].value() or []},
        "chosen_plan": str(form["plan"].value() or ""),
        "chosen_add_ons": {str(value) for value in form["add_ons"].value() or []},
        "provider": billing.payment_provider_default(),
        "subscription": selectors.current_subscription(user_id=request.user.pk),
        "subscribed": subscription_active(user_id=request.user.pk) is not None,
    }
    return render(request, "pages/purchase.html", context, status=400 if form.errors else 200)


def _receipt(request: HttpRequest) -> selectors.Receipt:
    try:
        invoice_id = uuid.UUID(request.GET.get("invoice", ""))
        return selectors.purchase_receipt(invoice_id=invoice_id, user_id=request.user.pk)
    except (ValueError, NotFound) as error:
        raise Http404("No such purchase.") from error


@login_required
@require_safe
def purchase_success(request: HttpRequest) -> HttpResponse:
    receipt = _receipt(request)
    header_reads(request, receipt.balance_read)
    return render(request, "pages/success.html", {"receipt": receipt})


@login_required
@require_safe
def purchase_cancel(request: HttpRequest) -> HttpResponse:
    """Where Stripe Checkout's and the test page's Cancel come back to, with the invoice: one
    of the user's still pending is named, with the way to pay or cancel it; one paid since
    (Back through the history after paying it from its invoice page, a bookmark) goes to
    its receipt, as this page says nothing was charged; anything else (none, cancelled,
    another user's, a bad id) gets the plain page."""
    try:
        receipt = _receipt(request)
    except Http404:
        receipt = None
    if receipt is not None and receipt.settled and not receipt.cancelled:
        return redirect(purchase_success_url(receipt.invoice))
    open_invoice = receipt.invoice if receipt is not None and not receipt.settled else None
    return render(request, "pages/cancel.html", {"open_invoice": open_invoice})


@json_login_required
@require_safe
def purchase_status(request: HttpRequest) -> JsonResponse:
    """Polled by the receipt page's script, which reads JSON, also when there is no such
    purchase."""
    try:
        receipt = _receipt(request)
    except Http404:
        return JsonResponse({"error": "No such purchase.", "code": "not_found"}, status=404)
    waiting = receipt.period_waiting
    return JsonResponse(
        {
            "status": receipt.invoice.status,
            "settled": receipt.settled,
            "tokens_credited": receipt.tokens_credited,
            "balance": receipt.balance,
            "plan_name": waiting.plan_name if waiting else None,
            "plan_starts_at": api_time(waiting.starts_at) if waiting else None,
        }
    )


@json_login_required
@require_safe
def balance(request: HttpRequest) -> JsonResponse:
    found = token_balance(user_id=request.user.pk)
    soonest = found.expiring[0] if found.expiring else None
    expiring_next = (
        {"amount": soonest.amount, "expires_at": api_time(soonest.expires_at)} if soonest else None
    )
    # What the home page's figures show beside the header's (site.js redraws them too).
    available = 0 if found.short else found.available
    return JsonResponse(
        {
            "balance": found.balance,
            "available": available,
            "held": found.held,
            "expiring_next": expiring_next,
        }
    )
