"""Bundles, add-ons and plans in the admin: saved, (de)activated and deleted through the
catalog's services."""

from __future__ import annotations

import re
import uuid

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from catalog import selectors, services
from catalog.admin.forms import CatalogItemForm, CatalogModelAdmin, ReadVersionForm
from catalog.models import AddOn, CatalogItem, Plan, TokenBundle
from common.admin import money_column
from common.errors import Invalid, NotFound


class CatalogItemAdmin(CatalogModelAdmin):
    form = CatalogItemForm
    list_display = ["name", "price_shown", "is_active", "sort_order", "updated_at"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    ordering = ["sort_order", "price"]
    readonly_fields = ["version", "created_at", "updated_at"]
    actions = ["activate", "deactivate", "delete_unbought"]
    list_select_related = ["currency"]
    price_shown = money_column("price", "price")
    kind_fields: list[str] = []

    def get_fields(self, request: HttpRequest, obj: CatalogItem | None = None) -> list[str]:
        return [
            *(["read_version"] if obj is not None else []),
            "name",
            "description",
            *self.kind_fields,
            "price",
            "currency",
            "is_active",
            "sort_order",
            "version",
            "created_at",
            "updated_at",
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("currency", selectors.default_currency())
        return initial

    def get_changelist_form(self, request: HttpRequest, **kwargs):
        """The list's edits carry each row's version too (templates/admin/catalog/
        change_list.html draws it)."""
        return super().get_changelist_form(request, **{"form": ReadVersionForm, **kwargs})

    def save_model(self, request: HttpRequest, obj: CatalogItem, form, change: bool) -> None:
        services.catalog_item_save(
            item=obj,
            changed_fields=form.changed_data,
            expected_version=form.cleaned_data.get("read_version"),
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """A save the service refuses after the form was checked (changed since the page was
        opened by someone else, or against a rule) is a message, not a 500; Django's
        transaction around the view has rolled everything back. One deleted meanwhile: the
        project's ModelAdmin says so."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (Invalid, services.VersionConflict) as error:
            self.message_user(request, f"Nothing was saved: {error.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        """The list's edits (`list_editable`) are Django's plain form, saved through
        save_model in one transaction: a row deleted meanwhile, or a rule the service holds,
        undoes them all and says so instead of a 500. The rows it posts are locked first,
        in id order (services.catalog_items_lock), not each as it is saved in the list's
        order."""
        try:
            with transaction.atomic():
                if request.method == "POST" and "_save" in request.POST:
                    services.catalog_items_lock(model=self.model, ids=_posted_ids(request))
                return super().changelist_view(request, extra_context)
        except NotFound:
            self.message_user(
                request,
                f"Nothing was saved: one of the {self.model._meta.verbose_name_plural} "
                "was deleted meanwhile.",
                messages.ERROR,
            )
        except (Invalid, services.VersionConflict) as error:
            self.message_user(request, f"Nothing was saved: {error.message}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_model(self, request: HttpRequest, obj: CatalogItem) -> None:
        services.catalog_item_delete(model=type(obj), item_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        services.catalog_items_delete(queryset=queryset)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """A bought item cannot be deleted (invoices and purchases refer to it): say so, and
        offer to deactivate it instead."""
        item = self.get_object(request, unquote(object_id))
        bought = bought_records(item) if item is not None else 0
        if not bought or not self.has_view_or_change_permission(request, item):
            try:
                return super().delete_view(request, object_id, extra_context)
            except services.InUse:
                self.message_user(
                    request, f"“{item}” was bought meanwhile: nothing was deleted.", messages.ERROR
                )
                return HttpResponseRedirect(request.path)
        change_url = reverse(
            f"admin:{item._meta.app_label}_{item._meta.model_name}_change", args=[item.pk]
        )
        if request.method == "POST" and "deactivate" in request.POST:
            if not self.has_change_permission(request, item):
                return super().delete_view(request, object_id, extra_context)
            services.catalog_items_set_active(
                queryset=type(item).objects.filter(pk=item.pk),
                active=False,
                actor_id=request.user.pk,
            )
            self.message_user(
                request, f"“{item}” is deactivated: it is no longer on sale.", messages.SUCCESS
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"“{item}” cannot be deleted",
            "item": item,
            "bought": bought,
            "opts": self.model._meta,
            "change_url": change_url,
            "can_deactivate": self.has_change_permission(request, item),
        }
        return TemplateResponse(request, "admin/catalog/in_use.html", context)

    @admin.action(
        description="Delete the selected items (only those never bought)",
        permissions=["delete"],
    )
    def delete_unbought(self, request: HttpRequest, queryset: QuerySet[CatalogItem]):
        bought = [str(item) for item in queryset if bought_records(item)]
        if bought:
            self.message_user(
                request,
                f"Nothing was deleted: {', '.join(bought)} "
                f"{'has' if len(bought) == 1 else 'have'} been bought, and invoices refer "
                "to them. Use “Deactivate the selected items” to take them off sale.",
                messages.ERROR,
            )
            return None
        try:
            with transaction.atomic():
                return delete_selected(self, request, queryset)
        except services.InUse:
            self.message_user(
                request,
                "Nothing was deleted: one of the items was bought meanwhile. "
                "Use “Deactivate the selected items” to take it off sale.",
                messages.ERROR,
            )
            return None

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Activate the selected items", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        changed = services.catalog_items_set_active(
            queryset=queryset, active=True, actor_id=request.user.pk
        )
        self.message_user(request, f"Activated {changed} item(s).", messages.SUCCESS)

    @admin.action(
        description="Deactivate the selected items (hidden from sale, kept for history)",
        permissions=["change"],
    )
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        changed = services.catalog_items_set_active(
            queryset=queryset, active=False, actor_id=request.user.pk
        )
        self.message_user(request, f"Deactivated {changed} item(s).", messages.SUCCESS)


def _posted_ids(request: HttpRequest) -> list[uuid.UUID]:
    """The ids of the rows the list's edits post (`form-N-id`); one that is no id is left
    to the formset to refuse."""
    ids = []
    for field, value in request.POST.items():
        if re.fullmatch(r"form-\d+-id", field):
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                continue
    return ids


@admin.register(TokenBundle)
class TokenBundleAdmin(CatalogItemAdmin):
    list_display = [
        "name",
        "token_amount",
        "price_shown",
        "price_per_token",
        "is_active",
        "sort_order",
        "updated_at",
    ]
    kind_fields = ["token_amount", "expires_after_days"]

    @admin.display(description="Price per token")
    def price_per_token(self, bundle: TokenBundle) -> str:
        return f"{bundle.price_per_token} {bundle.currency.code}"


@admin.register(AddOn)
class SubscriptionItemAdmin(CatalogItemAdmin):
    list_display = [
        "name",
        "billing_period",
        "price_shown",
        "is_active",
        "sort_order",
        "updated_at",
    ]
    list_filter = ["is_active", "billing_period"]
    kind_fields = ["billing_period"]


@admin.register(Plan)
class PlanAdmin(SubscriptionItemAdmin):
    list_display = [*SubscriptionItemAdmin.list_display[:2], "usage_mode", "included_tokens"]
    list_display += SubscriptionItemAdmin.list_display[2:]
    list_filter = [*SubscriptionItemAdmin.list_filter, "usage_mode"]
    kind_fields = ["billing_period", "usage_mode", "included_tokens"]


def bought_records(item: Model) -> int:
    """How many records (purchases, subscriptions) protect the item from deletion: the
    apps that sell it refer to it with PROTECT, which catalog learns without importing them.
    Counted, not loaded: a popular bundle's delete page loaded every purchase of it."""
    return selectors.catalog_item_references(item=item)
