"""`common.db.selected`: checkout's lean read of catalog items loads what the ORM's
`select_related` loads, value for value and type for type, on PostgreSQL and SQLite."""

from datetime import UTC
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import AddOn, Currency, Plan, TokenBundle
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.db import selected

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def columns(instance) -> list[tuple[str, object, type]]:
    return [
        (field.attname, getattr(instance, field.attname), type(getattr(instance, field.attname)))
        for field in instance._meta.concrete_fields
    ]


def by_pk(model, pks) -> list:
    params = [model._meta.pk.get_db_prep_value(pk, connection) for pk in pks]
    where = f"t.id IN ({', '.join(['%s'] * len(params))})"
    return sorted(selected(model, where, params, joined="currency"), key=lambda item: item.pk)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: TokenBundleFactory(price=Decimal("12.34"), expires_after_days=30),
        lambda: TokenBundleFactory(description="Ünïcode ✓", is_active=False),
        lambda: PlanFactory(included_tokens=500),
        lambda: AddOnFactory(sort_order=-3),
    ],
    ids=["bundle", "inactive bundle", "plan", "add-on"],
)
def test_an_item_and_its_currency_load_as_the_orm_loads_them(factory):
    item = factory()
    model = type(item)
    through_orm = model.objects.select_related("currency").get(pk=item.pk)

    (lean,) = by_pk(model, [item.pk])

    assert columns(lean) == columns(through_orm)
    assert columns(lean.currency) == columns(through_orm.currency)
    assert lean.created_at.tzinfo == UTC
    assert not lean._state.adding
    assert lean._state.db == connection.alias


def test_the_currency_comes_with_the_row_not_from_another_query():
    bundle = TokenBundleFactory()

    with CaptureQueriesContext(connection) as queries:
        (lean,) = by_pk(TokenBundle, [bundle.pk])
        assert lean.currency.code == "USD"

    assert len(queries) == 1


def test_only_rows_that_match_are_loaded():
    wanted, other = TokenBundleFactory(), TokenBundleFactory(is_active=False)
    TokenBundleFactory()

    found = selected(
        TokenBundle,
        "t.id IN (%s, %s) AND t.is_active",
        [TokenBundle._meta.pk.get_db_prep_value(pk, connection) for pk in (wanted.pk, other.pk)],
        joined="currency",
    )

    assert [item.pk for item in found] == [wanted.pk]


def test_several_items_of_several_kinds():
    bundles = [TokenBundleFactory() for _ in range(3)]
    plans = [PlanFactory(), PlanFactory()]
    add_on = AddOnFactory()

    assert [b.pk for b in by_pk(TokenBundle, [b.pk for b in bundles])] == sorted(
        b.pk for b in bundles
    )
    assert [p.pk for p in by_pk(Plan, [p.pk for p in plans])] == sorted(p.pk for p in plans)
    assert [a.pk for a in by_pk(AddOn, [add_on.pk])] == [add_on.pk]


def test_without_a_join_only_the_models_own_columns_are_read():
    currency = Currency.objects.get(code="USD")

    with CaptureQueriesContext(connection) as queries:
        (lean,) = selected(Currency, "t.code = %s", ["USD"])

    assert columns(lean) == columns(currency)
    assert "JOIN" not in queries[0]["sql"]
