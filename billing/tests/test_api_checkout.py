from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from billing.models import AddOnSubscription, Invoice, Subscription, TokenBundlePurchase
from billing.tests.helpers import capture, checkout
from catalog.models import BillingPeriod
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.db import all_or_nothing
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

CHECKOUT = "/api/v1/user/checkout"


@pytest.fixture
def catalog():
    return {
        "plan": PlanFactory(name="Monthly", price=Decimal("29.00")),
        "small": TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.00")),
        "big": TokenBundleFactory(name="Team", token_amount=1000, price=Decimal("5.00")),
        "support": AddOnFactory(name="Support", price=Decimal("9.00")),
        "onboarding": AddOnFactory(
            name="Onboarding", price=Decimal("49.00"), billing_period=BillingPeriod.ONE_TIME
        ),
    }


def ids(*items) -> list[str]:
    return [str(item.pk) for item in items]


def test_checkout_creates_everything_pending_with_catalog_prices(user_client, user, catalog):
    body = {
        "plan_id": str(catalog["plan"].pk),
        "token_bundle_ids": ids(catalog["small"], catalog["big"], catalog["small"]),
        "add_on_ids": ids(catalog["support"], catalog["onboarding"]),
        "total": "0.01",
        "prices": {"plan": "0.01"},
    }

    response = user_client.post(CHECKOUT, body)

    assert response.status_code == 201
    data = response.json()
    invoice = Invoice.objects.get(pk=data["invoice"]["id"])
    assert (invoice.user, invoice.status, invoice.total) == (user, "pending", Decimal("182.00"))
    assert data["message"] == "Checkout created. Awaiting payment."
    assert data["next_step"] == {
        "action": "pay",
        "method": "POST",
        "url": f"/api/v1/user/invoices/{invoice.pk}/pay",
    }
    assert data["invoice"]["number"].startswith("INV-")
    assert (data["invoice"]["subtotal"], data["invoice"]["total_amount"]) == ("182.00", "182.00")
    assert [
        (
            line["item_type"],
            line["description"],
            line["quantity"],
            line["unit_price"],
            line["total_price"],
        )
        for line in data["invoice"]["line_items"]
    ] == [
        ("subscription", "Monthly plan", 1, "29.00", "29.00"),
        ("token_bundle", "Starter (50 tokens)", 2, "45.00", "90.00"),
        ("token_bundle", "Team (1000 tokens)", 1, "5.00", "5.00"),
        ("add_on", "Support add-on", 1, "9.00", "9.00"),
        ("add_on", "Onboarding add-on", 1, "49.00", "49.00"),
    ]
    assert data["subscription"]["status"] == "pending"
    assert data["subscription"]["plan_name"] == "Monthly"
    assert [
        (p["name"], p["tokens"], p["unit_price"], p["status"]) for p in data["token_bundles"]
    ] == [
        ("Starter", 50, "45.00", "pending"),
        ("Team", 1000, "5.00", "pending"),
        ("Starter", 50, "45.00", "pending"),
    ]
    assert [(a["name"], a["status"]) for a in data["add_ons"]] == [
        ("Support", "pending"),
        ("Onboarding", "pending"),
    ]
    assert {a["subscription_id"] for a in data["add_ons"]} == {data["subscription"]["id"]}
    assert TokenBundlePurchase.objects.filter(invoice=invoice).count() == 3
    assert sum(line.total_price for line in invoice.line_items.all()) == invoice.total


def test_add_ons_alone_attach_to_the_active_subscription(user_client, user, catalog):
    first = checkout(user, plan=catalog["plan"])
    capture(first.invoice)

    response = user_client.post(CHECKOUT, {"add_on_ids": ids(catalog["support"])})

    assert response.status_code == 201
    assert response.json()["subscription"] is None
    assert response.json()["add_ons"][0]["subscription_id"] == str(first.subscription.pk)


def test_a_bundle_only_checkout(user_client, catalog):
    response = user_client.post(CHECKOUT, {"token_bundle_ids": ids(catalog["big"])})

    assert response.status_code == 201
    assert response.json()["invoice"]["total_amount"] == "5.00"
    assert response.json()["subscription"] is None
    assert response.json()["add_ons"] == []


def test_a_checkout_of_100_bundles_writes_every_purchase(user_client, user, catalog):
    """More rows than Django lets SQLite take in one statement (999 parameters: 76 purchases),
    so there the purchases take two statements, and every row still lands."""
    with CaptureQueriesContext(connection) as queries:
        response = user_client.post(CHECKOUT, {"token_bundle_ids": ids(catalog["big"]) * 100})

    assert response.status_code == 201
    purchase_inserts = [
        query
        for query in queries
        if query["sql"].startswith('INSERT INTO "billing_tokenbundlepurchase"')
    ]
    assert len(purchase_inserts) == (2 if connection.vendor == "sqlite" else 1)
    invoice = Invoice.objects.get(user=user)
    assert invoice.total == Decimal("500.00")
    assert [(line.quantity, line.total_price) for line in invoice.line_items.all()] == [
        (100, Decimal("500.00"))
    ]
    assert TokenBundlePurchase.objects.filter(invoice=invoice, status="pending").count() == 100
    assert len(response.json()["token_bundles"]) == 100


def test_checkout_needs_authentication(api_client, catalog):
    before = database_state()

    response = api_client.post(CHECKOUT, {"token_bundle_ids": ids(catalog["big"])})

    assert response.status_code == 401
    assert database_state() == before


def bad_bodies(catalog) -> list[tuple[dict, str, str]]:
    """(body, field named, words the message contains)."""
    inactive_bundle = TokenBundleFactory(is_active=False)
    inactive_plan = PlanFactory(is_active=False)
    inactive_add_on = AddOnFactory(is_active=False)
    unknown = str(uuid4())
    big, support = str(catalog["big"].pk), str(catalog["support"].pk)
    return [
        ({}, "non_field_errors", "at least one item"),
        ({"token_bundle_ids": [], "add_on_ids": []}, "non_field_errors", "at least one item"),
        ({"token_bundle_ids": ["not-a-uuid"]}, "token_bundle_ids", "UUID"),
        ({"token_bundle_ids": [12345]}, "token_bundle_ids", "UUID"),
        ({"token_bundle_ids": big}, "token_bundle_ids", "list"),
        ({"plan_id": 7}, "plan_id", "UUID"),
        ({"plan_id": "nope"}, "plan_id", "UUID"),
        ({"token_bundle_ids": [unknown]}, "token_bundle_ids", unknown),
        (
            {"token_bundle_ids": [str(inactive_bundle.pk)]},
            "token_bundle_ids",
            str(inactive_bundle.pk),
        ),
        ({"plan_id": str(inactive_plan.pk)}, "plan_id", str(inactive_plan.pk)),
        (
            {"plan_id": str(catalog["plan"].pk), "add_on_ids": [str(inactive_add_on.pk)]},
            "add_on_ids",
            str(inactive_add_on.pk),
        ),
        ({"add_on_ids": [support]}, "add_on_ids", "need a plan"),
        (
            {"plan_id": str(catalog["plan"].pk), "add_on_ids": [support, support]},
            "add_on_ids",
            "once",
        ),
        ({"token_bundle_ids": [big] * 101}, "token_bundle_ids", "100"),
        (
            {"plan_id": str(catalog["plan"].pk), "token_bundle_ids": [big] * 100},
            "non_field_errors",
            "At most 100 items",
        ),
        ({"token_bundle_ids": None}, "token_bundle_ids", "null"),
        ({"add_on_ids": {"a": 1}}, "add_on_ids", "list"),
    ]


def test_refused_checkouts_write_nothing(user_client, catalog):
    for body, field, words in bad_bodies(catalog):
        before = database_state()

        response = user_client.post(CHECKOUT, body)

        assert response.status_code == 400, body
        assert response.json()["code"] == "validation_error"
        messages = response.json()["fields"][field]
        assert any(words.lower() in message.lower() for message in messages), (body, messages)
        assert database_state() == before


@pytest.mark.parametrize("body", ["[]", '"items"', "not json"])
def test_bodies_that_are_not_objects_are_400(user_client, body):
    before = database_state()

    response = user_client.post(CHECKOUT, data=body, content_type="application/json")

    assert response.status_code == 400
    assert database_state() == before


def test_the_same_key_returns_the_first_checkout(user_client, catalog):
    body = {"token_bundle_ids": ids(catalog["big"])}

    first = user_client.post(CHECKOUT, body, HTTP_IDEMPOTENCY_KEY="cart-1")
    again = user_client.post(CHECKOUT, body, HTTP_IDEMPOTENCY_KEY="cart-1")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert Invoice.objects.count() == 1


def test_the_same_key_with_another_cart_is_422(user_client, catalog):
    user_client.post(CHECKOUT, {"token_bundle_ids": ids(catalog["big"])}, HTTP_IDEMPOTENCY_KEY="k")
    before = database_state()

    response = user_client.post(
        CHECKOUT, {"token_bundle_ids": ids(catalog["small"])}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422
    assert database_state() == before


def test_the_same_key_on_consume_and_checkout_is_422(user_client, catalog):
    user_client.post(CHECKOUT, {"token_bundle_ids": ids(catalog["big"])}, HTTP_IDEMPOTENCY_KEY="k")

    response = user_client.post(
        "/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 422


def test_the_service_replays_a_key_without_the_api_record(user, catalog):
    first = checkout(user, bundles=[catalog["big"]], key="svc")

    again = checkout(user, bundles=[catalog["big"]], key="svc")

    assert again.invoice.pk == first.invoice.pk
    assert [p.pk for p in again.purchases] == [p.pk for p in first.purchases]
    assert Invoice.objects.count() == 1


def test_inside_all_or_nothing_a_used_key_is_left_to_the_caller(user, catalog):
    """There the duplicate broke the transaction (PostgreSQL) or the caller must not go on as
    if it were new work (SQLite): the error reaches the caller, which answers from its record."""
    checkout(user, bundles=[catalog["big"]], key="svc")

    with pytest.raises(IntegrityError), all_or_nothing():
        checkout(user, bundles=[catalog["big"]], key="svc")

    assert Invoice.objects.count() == 1


def test_invoice_numbers_increase(user, catalog):
    numbers = [checkout(user, bundles=[catalog["big"]]).invoice.number for _ in range(3)]

    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3


def test_subscription_and_add_on_rows_copy_the_catalog(user, catalog):
    result = checkout(user, plan=catalog["plan"], add_ons=[catalog["onboarding"]])
    catalog["plan"].price = Decimal("99.00")
    catalog["plan"].save()

    subscription = Subscription.objects.get(pk=result.subscription.pk)
    add_on = AddOnSubscription.objects.get(invoice=result.invoice)
    assert (subscription.price, subscription.billing_period) == (Decimal("29.00"), "monthly")
    assert (add_on.unit_price, add_on.billing_period) == (Decimal("49.00"), "one_time")


def test_a_checkout_names_every_field_whose_items_are_gone(user_client, catalog):
    """A cart left open while staff retired a plan and a bundle is corrected in one go."""
    plan, bundle, add_on = (
        PlanFactory(is_active=False),
        TokenBundleFactory(is_active=False),
        AddOnFactory(is_active=False),
    )
    support = str(catalog["support"].pk)
    before = database_state()

    gone = user_client.post(
        CHECKOUT,
        {"plan_id": str(plan.pk), "token_bundle_ids": ids(bundle), "add_on_ids": ids(add_on)},
    )
    twice = user_client.post(CHECKOUT, {"plan_id": str(plan.pk), "add_on_ids": [support] * 2})

    assert (gone.status_code, gone.json()) == (
        400,
        {
            "error": "Invalid input in: plan_id, token_bundle_ids, add_on_ids.",
            "code": "validation_error",
            "fields": {
                "plan_id": [f"No active plan with id {plan.pk}."],
                "token_bundle_ids": [f"No active token bundle with id {bundle.pk}."],
                "add_on_ids": [f"No active add-on with id {add_on.pk}."],
            },
        },
    )
    assert twice.json()["fields"] == {
        "add_on_ids": [f"An add-on can be bought once per checkout: {support}."],
        "plan_id": [f"No active plan with id {plan.pk}."],
    }
    assert database_state() == before
