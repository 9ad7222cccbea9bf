"""Catalog reads."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from django.db.models import PROTECT, RESTRICT, QuerySet
from django.db.models.fields.reverse_related import ForeignObjectRel
from django_filters.utils import translate_validation

from catalog.filters import CatalogItemFilter
from catalog.models import AddOn, CatalogItem, Currency, Plan, TokenBundle
from catalog.pricing import bundle_offers
from common.db import fetched
from common.errors import DomainError, NotFound

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


class NoDefaultCurrency(DomainError):
    code = "server_misconfigured"
    http_status = 500
    default_message = "No default currency is configured; run the migrations."


def default_currency() -> Currency:
    try:
        return Currency.objects.get(is_default=True)
    except Currency.DoesNotExist as error:
        raise NoDefaultCurrency() from error


def catalog_version(database: BaseDatabaseWrapper | None = None) -> tuple[str, int] | None:
    """(epoch, version) of the catalog as it is now; None while its row is missing (a test's
    flush), until the next catalog write makes it again. One indexed read, on `database`, a
    connection the caller has already looked up, or on the default one."""
    rows = fetched("SELECT epoch, version FROM catalog_catalogversion WHERE id = 1", None, database)
    return (rows[0][0], rows[0][1]) if rows else None


def bundles_for_sale() -> list[TokenBundle]:
    """Active bundles in listing order, each with `.offer` (price per token, savings, best value).

    One query, whatever the number of bundles.
    """
    bundles = list(TokenBundle.objects.filter(is_active=True).select_related("currency"))
    offers = bundle_offers(bundles)
    for bundle in bundles:
        bundle.offer = offers[bundle.id]
    return bundles


def add_ons_for_sale() -> QuerySet[AddOn]:
    return AddOn.objects.filter(is_active=True).select_related("currency")


def plans_for_sale() -> QuerySet[Plan]:
    return Plan.objects.filter(is_active=True).select_related("currency")


def catalog_items_for_staff(
    *, model: type[CatalogItem], filters: Mapping[str, str]
) -> QuerySet[CatalogItem]:
    """Staff list: active only unless `include_inactive=true`; `search`, `ordering`.

    Raises DRF's ValidationError naming the parameter when a filter value is not valid.
    """
    queryset = model.objects.select_related("currency")
    filterset = CatalogItemFilter(data=filters, queryset=queryset)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset.qs


def catalog_item_get(
    *, model: type[CatalogItem], item_id: object, for_update: bool = False
) -> CatalogItem:
    """One item, active or not; `for_update` locks its row (inside a transaction).

    Raises common.errors.NotFound.
    """
    queryset = model.objects.select_related("currency")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(pk=item_id)
    except model.DoesNotExist as error:
        raise NotFound(f"No {model._meta.verbose_name} with this id.") from error


def _protecting(model: type[CatalogItem]) -> list[ForeignObjectRel]:
    """The foreign keys to `model` that forbid deleting what they refer to: what the apps that
    sell an item keep of it (purchases, subscriptions), found without importing them."""
    return [
        relation
        for relation in model._meta.related_objects
        if relation.on_delete in (PROTECT, RESTRICT)
    ]


def catalog_items_in_use(*, model: type[CatalogItem], ids: Collection[object]) -> bool:
    """Whether anything bought refers to one of these items: one indexed EXISTS per foreign
    key. (Django's delete learns the same by loading every row that refers to them, all of
    a popular bundle's purchases, to refuse the delete.)"""
    return any(
        relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": ids}).exists()
        for relation in _protecting(model)
    )


def catalog_item_references(*, item: CatalogItem) -> int:
    """How many records (purchases, subscriptions) refer to the item and keep it from being
    deleted: one count per foreign key, no row loaded."""
    return sum(
        relation.related_model._base_manager.filter(**{relation.field.name: item}).count()
        for relation in _protecting(type(item))
    )
