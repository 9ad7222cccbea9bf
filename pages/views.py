"""Pages for people, on the same services and selectors as the API. Session auth, CSRF."""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods

from accounts.services import user_register
from billing import services as billing
from catalog.selectors import bundles_for_sale
from common.api.throttling import FormThrottle
from common.errors import DomainError, Invalid, NotFound
from common.exports import csv_response
from pages import selectors
from pages.forms import HistoryFilterForm, PurchaseForm, SignInForm, SignUpForm
from pages.services import purchase_start
from tokens.selectors import (
    CSV_COLUMNS,
    token_balance,
    token_history,
    token_history_rows,
    usage_by_day,
    usage_of_user,
)

HISTORY_PAGE_SIZE = 50


def throttled(view):
    """THROTTLE_AUTH per client address on POSTs, as the API's auth endpoints have it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = FormThrottle()
        if request.method == "POST" and not throttle.allow_request(request, None):
            wait = int(throttle.wait())
            return render(request, "pages/too_many.html", {"wait": wait}, status=429)
        return view(request, *args, **kwargs)

    return wrapper


@method_decorator(throttled, name="post")
class SignInView(auth_views.LoginView):
    template_name = "pages/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


@throttled
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("pages:purchase")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(**form.cleaned_data)
        except Invalid as error:
            form.add_error(error.field, error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect("pages:purchase")
    return render(request, "pages/sign_up.html", {"form": form})


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return redirect("pages:purchase")


@login_required
@require_http_methods(["GET", "POST"])
def purchase(request: HttpRequest) -> HttpResponse:
    bundles = bundles_for_sale()
    form = PurchaseForm(
        request.POST or None,
        bundle_ids=[str(bundle.pk) for bundle in bundles],
        initial={"submission": uuid.uuid4()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            target = purchase_start(
                user_id=request.user.pk,
                bundle_ids=[uuid.UUID(value) for value in form.cleaned_data["bundles"]],
                submission=form.cleaned_data["submission"],
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            return redirect(target)
    chosen = set(form["bundles"].value() or [])
    provider = billing.payment_provider_default()
    context = {"bundles": bundles, "form": form, "chosen": chosen, "provider": provider}
    return render(request, "pages/purchase.html", context, status=400 if form.errors else 200)


def _receipt(request: HttpRequest) -> selectors.Receipt:
    try:
        invoice_id = uuid.UUID(request.GET.get("invoice", ""))
        return selectors.purchase_receipt(invoice_id=invoice_id, user_id=request.user.pk)
    except (ValueError, NotFound) as error:
        raise Http404("No such purchase.") from error


@login_required
@require_GET
def purchase_success(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/success.html", {"receipt": _receipt(request)})


@login_required
@require_GET
def purchase_cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/cancel.html")


def json_login_required(view):
    """401 JSON instead of a redirect, for the pages' polling requests."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {"error": "Sign in again.", "code": "not_authenticated"}, status=401
            )
        return view(request, *args, **kwargs)

    return wrapper


@json_login_required
@require_GET
def purchase_status(request: HttpRequest) -> JsonResponse:
    receipt = _receipt(request)
    return JsonResponse(
        {
            "status": receipt.invoice.status,
            "settled": receipt.settled,
            "tokens_credited": receipt.tokens_credited,
            "balance": receipt.balance,
        }
    )


@json_login_required
@require_GET
def balance(request: HttpRequest) -> JsonResponse:
    found = token_balance(user_id=request.user.pk)
    soonest = found.expiring[0] if found.expiring else None
    expiring_next = (
        {"amount": soonest.amount, "expires_at": soonest.expires_at.isoformat()}
        if soonest
        else None
    )
    return JsonResponse({"balance": found.balance, "expiring_next": expiring_next})


@login_required
@require_GET
def transactions(request: HttpRequest) -> HttpResponse:
    """The user's ledger, 50 a page, filtered; `?format=csv` exports every filtered row."""
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "pages/transactions.html", {"form": form}, status=400)
    filters = form.history_filters()
    if request.GET.get("format") == "csv":
        rows = token_history_rows(user_id=request.user.pk, filters=filters)
        return csv_response(rows, header=CSV_COLUMNS, filename="token-transactions.csv")
    entries = token_history(user_id=request.user.pk, filters=filters)
    try:
        page = Paginator(entries, HISTORY_PAGE_SIZE).page(form.cleaned_data["page"] or 1)
    except EmptyPage as error:
        raise Http404("No such page.") from error
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "pages/transactions.html", context)


USAGE_DAYS = 30


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    """What the user used over the last 30 days, by day and feature, with what paid for it,
    and the latest uses with their source."""
    since = timezone.now().date() - timedelta(days=USAGE_DAYS - 1)
    recent = usage_of_user(user_id=request.user.pk).select_related("entry")[:50]
    context = {
        "days": usage_by_day(user_id=request.user.pk, since=since),
        "recent": recent,
        "since": since,
    }
    return render(request, "pages/usage.html", context)
