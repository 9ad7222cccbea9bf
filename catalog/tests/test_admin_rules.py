"""What staff meet in the catalog's admin when a rule says no: a sentence beside the field for
every database constraint (never its name), and a bought item that offers Deactivate instead
of Delete."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import CheckConstraint
from django.urls import reverse

from billing.tests.helpers import checkout
from catalog.admin.forms import CONSTRAINT_MESSAGES
from catalog.models import AddOn, Currency, Plan, TokenBundle
from catalog.tests.factories import PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

BUNDLE = {
    "name": "Pack",
    "description": "",
    "token_amount": "10",
    "expires_after_days": "",
    "price": "5.00",
    "is_active": "on",
    "sort_order": "0",
}
ADD_ON = {**BUNDLE, "billing_period": "monthly"}
PLAN = {**ADD_ON, "usage_mode": "metered", "included_tokens": "0"}


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


def test_every_check_constraint_of_the_catalog_has_a_message_for_staff():
    names = {
        constraint.name
        for model in (TokenBundle, AddOn, Plan, Currency)
        for constraint in model._meta.constraints
        if isinstance(constraint, CheckConstraint)
    }

    assert names == set(CONSTRAINT_MESSAGES)


@pytest.mark.parametrize(
    ("model", "form", "field", "message"),
    [
        (TokenBundle, {**BUNDLE, "price": "0"}, "price", "Enter a price above zero."),
        (TokenBundle, {**BUNDLE, "token_amount": "0"}, "token_amount", "at least 1 token"),
        (TokenBundle, {**BUNDLE, "expires_after_days": "0"}, "expires_after_days", "1 to 3650"),
        (TokenBundle, {**BUNDLE, "expires_after_days": "4000"}, "expires_after_days", "3650"),
        (AddOn, {**ADD_ON, "price": "-1"}, "price", "Enter a price above zero."),
        (Plan, {**PLAN, "price": "0.00"}, "price", "Enter a price above zero."),
        (Plan, {**PLAN, "included_tokens": "-5"}, "included_tokens", "Enter 0 or more tokens."),
        (TokenBundle, {**BUNDLE, "description": "x" * 5001}, "description", "at most 5000"),
        (AddOn, {**ADD_ON, "description": "x" * 5001}, "description", "at most 5000"),
        (Currency, {"code": "usd", "symbol": "$", "decimal_places": "2"}, "code", "ISO 4217"),
        (Currency, {"code": "EUR", "symbol": "€", "decimal_places": "3"}, "decimal_places", "2"),
    ],
)
def test_a_value_a_constraint_refuses_gets_a_message_beside_its_field(
    staff_browser, model, form, field, message
):
    if model is not Currency:
        form = {**form, "currency": str(Currency.objects.get(is_default=True).pk)}
    before = database_state()

    response = staff_browser.post(add_url(model), form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert "__all__" not in errors
    assert "catalog_" not in response.content.decode()
    assert database_state() == before


# Past PostgreSQL's bigint: the database could not even be asked whether the value passes.
HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("model", "form", "field", "page"),
    [
        *(
            (model, form, field, page)
            for model, form, field in [
                (TokenBundle, {**BUNDLE, "token_amount": HUGE}, "token_amount"),
                (TokenBundle, {**BUNDLE, "expires_after_days": HUGE}, "expires_after_days"),
                (Plan, {**PLAN, "included_tokens": HUGE}, "included_tokens"),
            ]
            for page in ("add", "change")
        ),
        # An existing currency's places cannot be changed.
        (Currency, {"code": "EUR", "symbol": "€", "decimal_places": HUGE}, "decimal_places", "add"),
    ],
)
def test_a_number_beyond_its_column_is_a_form_error_not_a_500(
    staff_browser, model, form, field, page
):
    url = add_url(model)
    if model is not Currency:
        form = {**form, "currency": str(Currency.objects.get(is_default=True).pk)}
    if page == "change":
        item = {TokenBundle: TokenBundleFactory, Plan: PlanFactory}[model]()
        url = reverse(f"admin:catalog_{model._meta.model_name}_change", args=[item.pk])
    before = database_state()

    response = staff_browser.post(url, form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field], errors
    assert database_state() == before


@pytest.fixture
def bought(user):
    bundle = TokenBundleFactory(name="Pro", token_amount=500, price=Decimal("400.00"))
    checkout(user, bundles=[bundle])
    return bundle


def delete_url(item) -> str:
    return reverse("admin:catalog_tokenbundle_delete", args=[item.pk])


def test_deleting_a_bought_item_explains_why_not_and_offers_deactivate(staff_browser, bought):
    page = staff_browser.get(delete_url(bought)).content.decode()

    assert "“Pro” has been bought" in page
    assert 'value="Deactivate “Pro”"' in page
    assert "permission" not in page


def test_confirming_the_delete_of_a_bought_item_deletes_nothing(staff_browser, bought):
    before = database_state()

    response = staff_browser.post(delete_url(bought), {"post": "yes"})

    assert response.status_code == 200
    assert database_state() == before


def test_deactivate_from_the_delete_page_takes_it_off_sale(staff_browser, bought):
    response = staff_browser.post(delete_url(bought), {"deactivate": "1"})

    bought.refresh_from_db()
    assert response.status_code == 302
    assert not bought.is_active
    assert TokenBundle.objects.filter(pk=bought.pk).exists()


def test_an_unbought_item_is_deleted_as_usual(staff_browser):
    bundle = TokenBundleFactory()

    staff_browser.post(delete_url(bundle), {"post": "yes"})

    assert not TokenBundle.objects.filter(pk=bundle.pk).exists()


def test_the_bulk_delete_refuses_bought_items_and_points_to_deactivate(staff_browser, bought):
    spare = TokenBundleFactory(name="Spare")
    before = database_state()

    response = staff_browser.post(
        reverse("admin:catalog_tokenbundle_changelist"),
        {"action": "delete_unbought", "_selected_action": [str(bought.pk), str(spare.pk)]},
        follow=True,
    )

    page = response.content.decode()
    assert "Nothing was deleted: Pro has been bought" in page
    assert "Deactivate the selected items" in page
    assert database_state() == before


def test_the_bulk_delete_of_unbought_items_asks_then_deletes(staff_browser):
    spare = TokenBundleFactory(name="Spare")
    selected = {"action": "delete_unbought", "_selected_action": [str(spare.pk)]}

    asked = staff_browser.post(reverse("admin:catalog_tokenbundle_changelist"), selected)
    staff_browser.post(reverse("admin:catalog_tokenbundle_changelist"), {**selected, "post": "yes"})

    assert "Are you sure" in asked.content.decode()
    assert not TokenBundle.objects.filter(pk=spare.pk).exists()


def test_a_description_the_admin_saves_is_one_the_api_takes_back(staff_browser, staff_client):
    """The admin took any length and the API 5000 characters: a client that read an item and
    sent it back whole (PUT) got a 400 on its own data."""
    bundle = TokenBundleFactory(name="Pack", token_amount=10)
    change = reverse("admin:catalog_tokenbundle_change", args=[bundle.pk])
    form = {**BUNDLE, "currency": str(bundle.currency_id), "description": "x" * 5001}

    refused = staff_browser.post(change, form)
    saved = staff_browser.post(change, {**form, "description": "x" * 5000})
    read = staff_client.get(f"/api/v1/admin/token-bundles/{bundle.pk}").json()
    written_back = staff_client.put(f"/api/v1/admin/token-bundles/{bundle.pk}", read)

    assert refused.status_code == 200
    assert list(refused.context["adminform"].form.errors) == ["description"]
    assert saved.status_code == 302
    assert written_back.status_code == 200, written_back.json()
    bundle.refresh_from_db()
    assert (len(bundle.description), bundle.version) == (5000, 2)


def test_the_lowest_sort_order_the_admin_saves_is_one_the_api_takes_back(
    staff_browser, staff_client
):
    """The admin takes any sort order its column holds, -2147483648 included, and the API
    took -2147483647 and above: a client that read such an item and sent it back whole (PUT)
    got a 400 on its own data."""
    bundle = TokenBundleFactory(name="Pack", token_amount=10)
    change = reverse("admin:catalog_tokenbundle_change", args=[bundle.pk])
    form = {**BUNDLE, "currency": str(bundle.currency_id), "read_version": "1"}

    saved = staff_browser.post(change, {**form, "sort_order": "-2147483648"})
    read = staff_client.get(f"/api/v1/admin/token-bundles/{bundle.pk}").json()
    written_back = staff_client.put(
        f"/api/v1/admin/token-bundles/{bundle.pk}", {**read, "name": "Pack 2"}
    )

    assert saved.status_code == 302
    assert written_back.status_code == 200, written_back.json()
    bundle.refresh_from_db()
    assert (bundle.name, bundle.sort_order, bundle.version) == ("Pack 2", -2147483648, 3)


@pytest.mark.parametrize("model", [TokenBundle, AddOn, Plan])
def test_a_name_of_invisible_characters_alone_is_refused_as_the_api_refuses_it(
    staff_browser, model
):
    """The admin stripped whitespace only, so a name of a zero-width space was saved there
    (and listed as an empty-looking item) while the API refuses it as blank."""
    form = {TokenBundle: BUNDLE, AddOn: ADD_ON, Plan: PLAN}[model]
    currency = str(Currency.objects.get(is_default=True).pk)
    before = database_state()

    response = staff_browser.post(
        add_url(model), {**form, "name": "\u200b \ufeff", "currency": currency}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("name") == ["This field is required."]
    assert database_state() == before


def test_a_name_is_saved_trimmed_of_invisible_characters_as_the_api_saves_it(staff_browser):
    currency = str(Currency.objects.get(is_default=True).pk)

    response = staff_browser.post(
        add_url(TokenBundle), {**BUNDLE, "name": "\u200bStarter\u2060 ", "currency": currency}
    )

    assert response.status_code == 302
    assert TokenBundle.objects.get().name == "Starter"
