"""Signing up and in, and the account page: email, password, plan, tokens, alerts."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods, require_safe

from accounts.services import user_register
from common.errors import Invalid, NotFound
from pages import selectors
from pages.context_processors import header_reads
from pages.forms import AlertsForm, PasswordForm, SignInForm, SignUpForm
from pages.views.helpers import (
    form_action,
    password_guess_counted,
    sign_in_throttled,
    throttled,
)
from tokens.services.alerts import alerts_set, threshold_of


@method_decorator(sign_in_throttled, name="post")
class SignInView(auth_views.LoginView):
    template_name = "pages/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        """`next` unless it is this page: a signed-in user sent back here by it (an old tab,
        a bookmark) goes home instead of round in a loop (Django's LoginView raised)."""
        url = super().get_redirect_url()
        return "" if url and urlsplit(url).path == self.request.path else url


class SignOutView(auth_views.LogoutView):
    """Signs out on POST only (the header's button, with its CSRF token), so a link or an
    image elsewhere cannot sign a customer out. GET and HEAD, a typed address or an old link,
    answered Django's bare 405: a signed-in customer now gets a page with the Sign out button,
    and someone already signed out is sent where signing out leads (sign in)."""

    http_method_names = ["get", "head", "post", "options"]
    template_name = "pages/sign_out.html"

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            # A path, as the POST takes it: redirect() took `?next=home` for a URL's name.
            return HttpResponseRedirect(self.get_success_url())
        return render(request, self.template_name)


@throttled
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("pages:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(**form.cleaned_data)
        except Invalid as error:
            for field, refused in error.fields.items():
                form.add_error(field, " ".join(refused))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your account is ready.")
            return redirect("pages:home")
    return render(request, "pages/sign_up.html", {"form": form})


def _account_page(
    request: HttpRequest,
    *,
    password_form: PasswordForm | None = None,
    alerts_form: AlertsForm | None = None,
) -> HttpResponse:
    summary = selectors.account(user_id=request.user.pk)
    header_reads(request, summary.balance)
    default = threshold_of(None)
    context = {
        "summary": summary,
        "default_threshold": default,
        "password_form": password_form or PasswordForm(request.user),
        "alerts_form": alerts_form
        or AlertsForm(
            initial=AlertsForm.initial_for(summary.own_threshold), default_threshold=default
        ),
    }
    refused = any(form is not None and form.errors for form in (password_form, alerts_form))
    return render(request, "pages/account.html", context, status=400 if refused else 200)


@login_required
@require_safe
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@throttled
@login_required
@password_guess_counted
@form_action("pages:account")
def account_password(request: HttpRequest) -> HttpResponse:
    """Django's own check of the current password and the validators; the session stays
    signed in, others are signed out (their session hash no longer matches). Guesses at the
    current password count per client address and per account (password_guess_counted)."""
    form = PasswordForm(request.user, request.POST)
    if not form.is_valid():
        return _account_page(request, password_form=form)
    try:
        user = form.save()
    except NotFound:
        # Deleted after this request read them (with psql or a shell): signed out and sent
        # to sign in, as their next request would be.
        logout(request)
        return redirect_to_login(reverse("pages:account"))
    update_session_auth_hash(request, user)
    messages.success(request, "Your password is changed.")
    return redirect("pages:account")


@login_required
@form_action("pages:account")
def account_alerts(request: HttpRequest) -> HttpResponse:
    form = AlertsForm(request.POST, default_threshold=threshold_of(None))
    if not form.is_valid():
        return _account_page(request, alerts_form=form)
    own = alerts_set(user_id=request.user.pk, threshold=form.own_threshold())
    if own == 0:
        messages.success(request, "You will not be warned about a low balance.")
    else:
        messages.success(
            request, f"You will be warned when your balance falls below {threshold_of(own)}."
        )
    return redirect("pages:account")
