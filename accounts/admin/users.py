"""The user admin: staff find, add, change and deactivate customers; only a superuser gives
powers."""

from __future__ import annotations

import copy
from functools import partial
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    UserChangeForm,
)
from django.db import IntegrityError
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import services
from accounts.admin.passwords import PasswordForm
from accounts.models import User, normalize_email
from accounts.services import EMAIL_TAKEN, HOLDS_POWERS, HoldsPowers
from common.admin import ModelAdmin, RefusesStaleSaves, ShownStateForm
from common.errors import NotFound


class UniqueEmailMixin:
    """Names the taken address on the field; the database's unique index still decides
    (UserAdmin.changeform_view). Asked as the index asks, lower(email) = lower(address):
    `iexact` compares upper(), which makes one of letters the index keeps apart (U+0131
    dotless i and "i", U+1C80 and U+0432 Cyrillic ve: each pair has one capital), so an
    address the API registers was refused here, and so was every change to its user."""

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        taken = (
            User.objects.alias(email_lower=Lower("email"))
            .filter(email_lower=Lower(Value(email)))
            .exclude(pk=self.instance.pk)
        )
        if taken.exists():
            raise forms.ValidationError(EMAIL_TAKEN)
        return email


class UserCreationForm(UniqueEmailMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UniqueEmailMixin, ShownStateForm, UserChangeForm):
    """Carries what the page showed: Django's admin writes every field of the form, so a
    user deactivated since the page was opened was active again when it was saved."""

    shown_fields = ("email", "is_active", "is_staff", "is_superuser", "groups", "user_permissions")

    class Meta:
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(RefusesStaleSaves, ModelAdmin, DjangoUserAdmin):
    form = UserEditForm
    shown_as_now = "the user as they are now"
    add_form = UserCreationForm
    change_password_form = PasswordForm
    list_display = ["email", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email"]
    ordering = ["email"]
    readonly_fields = ["date_joined", "last_login"]
    actions = ["deactivate_users", "activate_users"]

    # What makes a user staff or more: the staff API (marking paid, refunding) is open to
    # every staff member, so only a superuser may give it, or change another staff member.
    POWERS = ["is_staff", "is_superuser", "groups", "user_permissions"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        """Powers for a superuser only; and one's own `is_active`, `is_staff` and
        `is_superuser` for nobody, as the Deactivate action leaves one out: unticked, the
        first two signed them out of the admin for good at once, the third left them unable
        to give it back, and the only superuser left nobody to undo it."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk == request.user.pk:
            fields.extend(["is_active", "is_staff", "is_superuser"])
        if request.user.is_superuser:
            return fields
        return [*fields, *(power for power in self.POWERS if power not in fields)]

    def get_fieldsets(self, request: HttpRequest, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None or request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in self.POWERS]})
            for name, options in fieldsets
        ]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        """Another user who holds any of the POWERS (staff, a superuser, a role), also one
        whose staff access was taken away for a while and who keeps the rest for when it is
        given back, is changed by a superuser only: setting their password would give their
        powers to whoever set it."""
        if (
            obj is not None
            and obj != request.user
            and not request.user.is_superuser
            and User.objects.filter(HOLDS_POWERS, pk=obj.pk).exists()
        ):
            return False
        return super().has_change_permission(request, obj)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """Django's, judged once more when the database refuses the save: the form checks that
        the address is free before writing, so the same address registered through the API
        and committed in between made the write an IntegrityError from the unique index (a
        500). Django's view is atomic, so the refused attempt changed nothing; the second
        sees the address taken and the form says so. A refusal the form cannot explain
        raises again. A change refused as the user was given powers meanwhile
        (services.user_lock_for_change) is a message on the page, as now shown."""
        try:
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            except IntegrityError:
                return super().changeform_view(request, object_id, form_url, extra_context)
        except HoldsPowers as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's, answering a user deleted after the page read them (with psql or a shell)
        as the change page does (ModelAdmin.deleted_meanwhile), not with a 500. One's own
        password is changed at /admin/password_change/, which asks for the current one and
        counts guesses at it: set here without it, a stolen staff session kept the account.

        The form names who sets the password (PasswordForm), so that the service refuses it
        for a user given powers since has_change_permission read them; Django's view builds
        it as `self.change_password_form(user, data)`, so this request's copy of the admin
        carries it (the admin itself is shared by every request)."""
        if _same_id(id, request.user.pk):
            return HttpResponseRedirect(reverse("admin:password_change"))
        page = copy.copy(self)
        page.change_password_form = partial(self.change_password_form, actor_id=request.user.pk)
        try:
            return super(UserAdmin, page).user_change_password(request, id, form_url)
        except NotFound:
            return self.deleted_meanwhile(request)
        except HoldsPowers as refused:
            self.message_user(request, str(refused), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[unquote(id)]))

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        """A user added here is announced as one who registered (the trial comes with it),
        in the add's transaction (Django's UserAdmin.add_view is atomic). A user deactivated
        here has every session ended for good by the database (accounts/migrations/0006).
        A change whose page showed the user otherwise than they are now raises
        ChangedMeanwhile (RefusesStaleSaves), and one of a user given powers since
        has_change_permission read them, by a staff member who is no superuser, HoldsPowers
        (services.user_lock_for_change, which locks the user first)."""
        if change:
            services.user_lock_for_change(user_id=obj.pk, actor_id=request.user.pk)
        super().save_model(request, obj, form, change)
        if not change:
            services.user_created_announce(user_id=obj.pk)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        """Users are deactivated, never deleted: invoices, the ledger and idempotency records
        refer to them, and an access token, trusted for its short life without a read of the
        user (accounts.authentication.Caller), must never name a user who is gone."""
        return False

    fieldsets = (
        (None, {"fields": ("read_state", "email", "password")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2", "is_staff"),
            },
        ),
    )

    @admin.action(
        description="Deactivate the selected users (they can no longer sign in)",
        permissions=["change"],
    )
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changeable = self._changeable(request, queryset).exclude(pk=request.user.pk)
        changed = services.users_deactivate(queryset=changeable, actor_id=request.user.pk)
        self.message_user(request, f"Deactivated {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Activate the selected users", permissions=["change"])
    def activate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = services.users_activate(
            queryset=self._changeable(request, queryset), actor_id=request.user.pk
        )
        self.message_user(request, f"Activated {changed} user(s).", messages.SUCCESS)

    def _changeable(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        return queryset if request.user.is_superuser else queryset.exclude(HOLDS_POWERS)


def _same_id(object_id: str, pk: UUID) -> bool:
    try:
        return UUID(unquote(object_id)) == pk
    except ValueError:
        return False
