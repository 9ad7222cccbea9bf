"""The user's ledger and usage."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from common.exports import csv_response
from pages import selectors
from pages.forms import HistoryFilterForm
from pages.views.helpers import paginated
from tokens.selectors import CSV_COLUMNS, token_history_rows, usage_by_day, usage_of_user

USAGE_DAYS = 30
# The usage page's features a day; the rest share one row (tokens.selectors.usage_by_day).
USAGE_FEATURES_PER_DAY = 10


@login_required
@require_safe
def transactions(request: HttpRequest) -> HttpResponse:
    """The user's ledger, 50 a page, filtered; `?format=csv` exports every filtered row."""
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "pages/transactions.html", {"form": form}, status=400)
    filters = form.history_filters()
    if request.GET.get("format") == "csv":
        rows = token_history_rows(user_id=request.user.pk, filters=filters)
        return csv_response(rows, header=CSV_COLUMNS, filename="token-transactions.csv")
    history = selectors.history_as_read(
        user_id=request.user.pk, filters=filters, upto=form.cleaned_data["upto"]
    )
    page = paginated(
        request,
        history.entries,
        form.cleaned_data["page"],
        count=history.count,
        kept={"upto": history.upto},
    )
    context = {"form": form, **page}
    return render(request, "pages/transactions.html", context)


@login_required
@require_safe
def usage(request: HttpRequest) -> HttpResponse:
    """What the user used over the last 30 days, by day and feature (a day's features past
    the top USAGE_FEATURES_PER_DAY by tokens summed in one row), with what paid for it, and
    the latest uses with their source."""
    since = timezone.now().date() - timedelta(days=USAGE_DAYS - 1)
    recent = usage_of_user(user_id=request.user.pk).select_related("entry")[:50]
    context = {
        "days": usage_by_day(
            user_id=request.user.pk, since=since, features_per_day=USAGE_FEATURES_PER_DAY
        ),
        "features_per_day": USAGE_FEATURES_PER_DAY,
        "recent": recent,
        "since": since,
    }
    return render(request, "pages/usage.html", context)
