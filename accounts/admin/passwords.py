"""The admin's password pages, which write the new password alone (services.user_password_set)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import admin
from django.contrib.admin.forms import AdminPasswordChangeForm as OwnPasswordChangeForm
from django.contrib.auth import logout
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
)
from django.contrib.auth.views import PasswordChangeView, redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts import services
from accounts.models import User
from common.errors import NotFound


class PasswordForm(AdminPasswordChangeForm):
    """Django's, writing the new password (or none that works) alone
    (services.user_password_set), never the whole user the page read, as set by `actor_id`
    (the service refuses it for a user they may not change)."""

    def __init__(self, user: User, *args, actor_id: UUID, **kwargs) -> None:
        super().__init__(user, *args, **kwargs)
        self.actor_id = actor_id

    def set_password_and_save(self, user: User, commit: bool = True, **kwargs) -> User:
        if not commit:
            return super().set_password_and_save(user, commit=False, **kwargs)
        usable = self.cleaned_data["set_usable_password"]
        services.user_password_set(
            user=user,
            password=self.cleaned_data["password1"] if usable else None,
            actor_id=self.actor_id,
        )
        return user


class OwnPasswordForm(OwnPasswordChangeForm):
    """/admin/password_change/'s form (the admin's, which checks the current password),
    writing the new password alone (services.user_password_set): saving the whole staff
    member the page had read undid a deactivation made meanwhile."""

    def set_password_and_save(self, user: User, password_field_name: str, commit: bool = True):
        if not commit:
            return super().set_password_and_save(user, password_field_name, commit=False)
        services.user_password_set(user=user, password=self.cleaned_data[password_field_name])
        return user


def own_password_change(request: HttpRequest) -> HttpResponse:
    """AdminSite.password_change with OwnPasswordForm (Django's names its form inside). A
    staff member deleted after the page read them (with psql or a shell) is signed out and
    sent to the admin's sign-in page, as their next request would be, not shown a 500."""
    request.current_app = admin.site.name
    try:
        return PasswordChangeView.as_view(
            form_class=OwnPasswordForm,
            success_url=reverse("admin:password_change_done", current_app=admin.site.name),
            extra_context=admin.site.each_context(request),
        )(request)
    except NotFound:
        logout(request)
        return redirect_to_login(
            request.get_full_path(), reverse("admin:login", current_app=admin.site.name)
        )
