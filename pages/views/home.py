"""The front page: the price list for visitors, the balance and recent activity for users."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from pages import selectors
from pages.context_processors import header_reads


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "pages/prices.html", {"prices": selectors.price_list()})
    board = selectors.dashboard(user_id=request.user.pk)
    header_reads(request, board.balance)
    return render(request, "pages/home.html", {"dashboard": board})
