"""Service API keys: created here with the secret shown once, listed, revoked."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts import services
from accounts.models import ApiKey
from common.admin import TrimmedTextModelAdmin
from common.text import trimmed


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("name",)

    def clean_name(self) -> str:
        """Trimmed as the API trims (common.text): a name of invisible characters only is
        blank here too, beside the field (the service refused it: a 500)."""
        name = trimmed(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("A name of visible characters is required.")
        return name


@admin.register(ApiKey)
class ApiKeyAdmin(TrimmedTextModelAdmin):
    """Create (the secret is shown once, on the page that follows), list, revoke."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return ["name"] if obj is None else self.get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        created = services.api_key_create(name=form.cleaned_data["name"], actor_id=request.user.pk)
        obj.pk = created.key.pk
        request._new_api_key_secret = created.secret

    def log_addition(self, request: HttpRequest, obj: ApiKey, message) -> None:
        """Nothing: the service recorded the addition with its creator (api_key_create), as
        it does for a key made through the staff API, so the History shows it once."""

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key {obj.name}",
            "secret": request._new_api_key_secret,
            "key": ApiKey.objects.get(pk=obj.pk),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/apikey/created.html", context)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(
        description="Revoke the selected keys (their next request is refused)",
        permissions=["change"],
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        """Says how many keys it revoked and how many were revoked already (a second tab,
        another staff member first): it counted those as revoked now too."""
        keys = list(queryset.values_list("pk", flat=True))
        revoked = sum(
            services.api_key_revoke(key_id=key_id, actor_id=request.user.pk) for key_id in keys
        )
        if revoked:
            self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
        if already := len(keys) - revoked:
            were = "1 selected key was" if already == 1 else f"{already} selected keys were"
            self.message_user(
                request, f"{were} revoked already: nothing was done.", messages.WARNING
            )
