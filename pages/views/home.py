"""The front page: the price list for visitors, the balance and recent activity for users."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from pages import selectors


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "pages/prices.html", {"prices": selectors.price_list()})
    context = {"dashboard": selectors.dashboard(user_id=request.user.pk)}
    return render(request, "pages/home.html", context)
