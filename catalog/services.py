"""Catalog writes. Every change adds one to the item's `version`, under a row lock."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F, ProtectedError, QuerySet, RestrictedError
from django.utils import timezone

from catalog.models import AddOn, CatalogItem, Currency, Plan, TokenBundle
from catalog.selectors import catalog_item_get, catalog_items_in_use, default_currency
from common.audit import staff_action_record
from common.errors import DomainError, Invalid

Params = ParamSpec("Params")
Result = TypeVar("Result")

# The triggers that raise the catalog's version (catalog migration 0005) are immediate unless
# a transaction defers them. The services defer them to the commit: the version's one row is
# then locked only while the transaction commits, so two staff writes taking the same items
# in different orders (an admin list edit, an API PATCH) cannot deadlock through it.
# Anything else (a migration, psql) keeps them immediate: a trigger event pending on a table
# stops an ALTER TABLE of it later in the same transaction. (Deferred by a service inside a
# caller's transaction, they stay deferred to that transaction's commit.)
_VERSION_AT_COMMIT = "SET CONSTRAINTS {} DEFERRED".format(
    ", ".join(f"{model._meta.db_table}_version" for model in (Currency, TokenBundle, AddOn, Plan))
)


def _catalog_write(service: Callable[Params, Result]) -> Callable[Params, Result]:
    """The service in a transaction that raises the catalog's version as it commits."""

    @functools.wraps(service)
    def in_transaction(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(_VERSION_AT_COMMIT)
            return service(*args, **kwargs)

    return in_transaction


class VersionConflict(DomainError):
    code = "version_conflict"


class InUse(DomainError):
    code = "in_use"
    default_message = "This item has been bought, so it cannot be deleted; deactivate it instead."


def validate_currency(currency_id: UUID | None) -> Currency:
    """The default currency; another currency is refused (everything is priced in one)."""
    currency = default_currency()
    if currency_id is not None and currency_id != currency.id:
        raise Invalid("currency_id", f"Only the default currency ({currency.code}) is accepted.")
    return currency


def validate_price(price: Decimal, currency: Currency) -> None:
    """Refuses a price with more places than the currency has (`5.001` USD, `5.5` JPY)."""
    if price != price.quantize(Decimal(1).scaleb(-currency.decimal_places)):
        raise Invalid(
            "price",
            f"{currency.code} prices have at most {currency.decimal_places} decimal places.",
        )


@_catalog_write
def catalog_item_create(
    *, model: type[CatalogItem], data: Mapping[str, Any], actor_id: UUID | None = None
) -> CatalogItem:
    """Recorded as `actor_id`'s (common.audit). Raises Invalid for another currency or too
    many price places."""
    fields = dict(data)
    currency = validate_currency(fields.pop("currency_id", None))
    validate_price(fields["price"], currency)
    item = model(currency=currency, **fields)
    item.save()
    staff_action_record(actor_id=actor_id, instances=[item], message="Added.", action="add")
    return item


@_catalog_write
def catalog_item_update(
    *,
    model: type[CatalogItem],
    item_id: UUID,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    actor_id: UUID | None = None,
) -> CatalogItem:
    """Applies a partial change. A body that changes nothing writes nothing: the item keeps
    its version and `updated_at`, and the listings their ETag (no client refetches for it),
    and nothing is recorded. A change is recorded as `actor_id`'s with each field's old and
    new value (common.audit): "who changed this price, from what?".

    Raises NotFound, VersionConflict when `expected_version` is given and is not the current
    one (someone else changed the item since it was read), and Invalid as create does.
    """
    item = catalog_item_get(model=model, item_id=item_id, for_update=True)
    if expected_version is not None and expected_version != item.version:
        raise VersionConflict(
            f"The item is at version {item.version}, not {expected_version}: "
            "someone changed it since you read it. Read it again and retry."
        )
    fields = dict(data)
    if "currency_id" in fields:
        fields["currency_id"] = validate_currency(fields["currency_id"]).pk
    changed = {name: value for name, value in fields.items() if getattr(item, name) != value}
    if not changed:
        return item
    message = "Changed " + "; ".join(
        f"{name} from {getattr(item, name)} to {value}" for name, value in changed.items()
    )
    for name, value in changed.items():
        setattr(item, name, value)
    validate_price(item.price, item.currency)
    item.version += 1
    item.save()
    staff_action_record(actor_id=actor_id, instances=[item], message=f"{message}.")
    return item


@_catalog_write
def catalog_item_toggle_active(
    *, model: type[CatalogItem], item_id: UUID, actor_id: UUID | None = None
) -> CatalogItem:
    """Recorded as `actor_id`'s (common.audit)."""
    item = catalog_item_get(model=model, item_id=item_id, for_update=True)
    item.is_active = not item.is_active
    item.version += 1
    item.save(update_fields=["is_active", "version", "updated_at"])
    message = "Activated." if item.is_active else "Deactivated."
    staff_action_record(actor_id=actor_id, instances=[item], message=message)
    return item


@_catalog_write
def catalog_item_delete(
    *, model: type[CatalogItem], item_id: UUID, actor_id: UUID | None = None
) -> None:
    """Raises InUse when anything bought refers to the item (foreign keys with PROTECT).
    Asked of the database before the delete, which would load every such row to refuse it.
    The item's lock comes first: a checkout buying it has committed, or waits and finds
    it gone. Recorded as `actor_id`'s while it still has its id (common.audit); the admin's
    delete page passes none, Django recording it itself."""
    item = catalog_item_get(model=model, item_id=item_id, for_update=True)
    if catalog_items_in_use(model=model, ids=[item.pk]):
        raise InUse()
    staff_action_record(actor_id=actor_id, instances=[item], message="Deleted.", action="delete")
    try:
        item.delete()
    except (ProtectedError, RestrictedError) as error:
        raise InUse() from error


@_catalog_write
def catalog_items_delete(*, queryset: QuerySet[CatalogItem]) -> int:
    """The admin's bulk delete, which Django runs in batches of 100: with the version's
    triggers deferred like every catalog write, the first batch does not hold the version's
    row while a later one waits for an item another staff write has locked.

    The items are locked first, in one order: a checkout buying one of them meanwhile has
    either committed, and is seen (InUse), or waits for the delete and finds the item gone.

    Raises InUse when anything bought refers to one of them; nothing is deleted then."""
    ids = list(queryset.values_list("pk", flat=True))
    items = queryset.model.objects.filter(pk__in=ids)
    list(items.select_for_update().order_by("pk").values_list("pk", flat=True))
    if catalog_items_in_use(model=queryset.model, ids=ids):
        raise InUse()
    try:
        deleted, _ = items.delete()
    except (ProtectedError, RestrictedError) as error:
        raise InUse() from error
    return deleted


@_catalog_write
def catalog_items_set_active(
    *, queryset: QuerySet[CatalogItem], active: bool, actor_id: UUID | None = None
) -> int:
    """Staff bulk (de)activation; items already so are left alone. The items it changes are
    locked first, in one order (as the bulk delete does), so the record (common.audit) names
    exactly those it changed: one changed meanwhile by someone else is not recorded as this
    staff member's. `updated_at` is the application's clock, as `auto_now` stamps every
    other write (the database's Now() is another clock, and on SQLite another precision)."""
    model = queryset.model
    changing = list(
        model.objects.filter(
            pk__in=queryset.exclude(is_active=active).values("pk"), is_active=not active
        )
        .order_by("pk")
        .select_for_update()
    )
    model.objects.filter(pk__in=[item.pk for item in changing]).update(
        is_active=active, version=F("version") + 1, updated_at=timezone.now()
    )
    message = "Activated." if active else "Deactivated."
    staff_action_record(actor_id=actor_id, instances=changing, message=message)
    return len(changing)


def catalog_items_lock(*, model: type[CatalogItem], ids: Iterable[UUID]) -> None:
    """Locks these items in id order, as the bulk (de)activation and delete take them, for
    the caller's transaction: the admin list's edits save one item after another in the
    list's order, and locking each as it came held one that a bulk action, holding another,
    waited for, while the edits waited for that other (a deadlock)."""
    items = model.objects.filter(pk__in=list(ids)).order_by("pk")
    list(items.select_for_update().values_list("pk", flat=True))


@_catalog_write
def catalog_item_save(
    *, item: CatalogItem, changed_fields: Iterable[str], expected_version: int | None = None
) -> CatalogItem:
    """A save from the Django admin's form, held to the same rules as the API. A change
    writes only the fields the form changed: the rest are as the admin read them before this
    lock, and another write may have changed them since. As with the API's update, the
    currency is checked when it is set: an item priced in another currency before the
    default changed can still be reordered or taken off sale.

    Raises Invalid (another currency, too many price places), NotFound (the item was
    deleted meanwhile) and VersionConflict when `expected_version`, the one the change page
    showed, is no longer the item's: the form's changes were judged against values staff
    did not see."""
    changed = list(changed_fields)
    if item._state.adding or "currency" in changed:
        validate_currency(item.currency_id)
    validate_price(item.price, item.currency)
    if item._state.adding:
        item.save()
        return item
    if not changed:
        return item
    current = catalog_item_get(model=type(item), item_id=item.pk, for_update=True)
    if expected_version is not None and expected_version != current.version:
        raise VersionConflict(
            f"“{current.name}” was changed by someone else since you opened the page (it is "
            f"at version {current.version} now, the page showed version {expected_version}). "
            "The page shows it as it is now; make your change again."
        )
    item.version = current.version + 1
    item.save(update_fields=[*changed, "version", "updated_at"])
    return item
