"""The checkout's plain-dict answer is, byte for byte as JSON, what its serializers (the
schema's description) would answer: new and replayed checkouts, every kind of item, a
currency without minor units, and an invoice once paid."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from billing.api.bodies import checkout_body, invoice_body
from billing.api.serializers import CheckoutResponseSerializer, InvoiceSerializer
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.models import BillingPeriod, Currency
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from events.models import Event

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NEXT_STEP = {"action": "pay", "method": "POST", "url": "/somewhere"}


def as_json(data: dict) -> dict:
    return json.loads(JSONRenderer().render(data))


def serialized(result) -> dict:
    body = {
        "subscription": result.subscription,
        "invoice": Invoice.objects.get(pk=result.invoice.pk),
        "purchases": result.purchases,
        "add_ons": result.add_ons,
        "message": "m",
        "next_step": NEXT_STEP,
    }
    return as_json(CheckoutResponseSerializer(body).data)


def plain(result) -> dict:
    return as_json(checkout_body(result, message="m", next_step=NEXT_STEP))


@pytest.fixture
def catalog():
    return {
        "plan": PlanFactory(name="Monthly", price=Decimal("29.00")),
        "small": TokenBundleFactory(name="Starter", token_amount=50, price=Decimal("45.00")),
        "big": TokenBundleFactory(name="Team", token_amount=1000, price=Decimal("5.50")),
        "support": AddOnFactory(name="Support", price=Decimal("9.00")),
        "onboarding": AddOnFactory(
            name="Onboarding", price=Decimal("49.00"), billing_period=BillingPeriod.ONE_TIME
        ),
    }


def test_a_checkout_of_every_kind_answers_what_its_serializers_would(user, catalog):
    result = checkout(
        user,
        plan=catalog["plan"],
        bundles=[catalog["small"], catalog["big"], catalog["small"]],
        add_ons=[catalog["support"], catalog["onboarding"]],
    )

    body = plain(result)

    assert body == serialized(result)
    assert [line["quantity"] for line in body["invoice"]["line_items"]] == [1, 2, 1, 1, 1]
    assert body["invoice"]["total_amount"] == "182.50"


def test_a_bundle_only_checkout_answers_what_its_serializers_would(user, catalog):
    result = checkout(user, bundles=[catalog["big"]])

    assert plain(result) == serialized(result)
    assert plain(result)["subscription"] is None


def test_add_ons_on_the_active_subscription_answer_what_their_serializers_would(user, catalog):
    capture(checkout(user, plan=catalog["plan"]).invoice)

    result = checkout(user, add_ons=[catalog["support"]])

    assert plain(result) == serialized(result)
    assert plain(result)["add_ons"][0]["subscription_id"] is not None


def test_a_replayed_checkout_answers_what_the_first_answered(user, catalog):
    first = checkout(user, plan=catalog["plan"], bundles=[catalog["big"]] * 3, key="k")

    again = checkout(user, plan=catalog["plan"], bundles=[catalog["big"]] * 3, key="k")

    assert again.invoice.pk == first.invoice.pk
    assert plain(again) == plain(first) == serialized(again)


def test_prices_in_a_currency_without_minor_units_have_no_places(user):
    Currency.objects.filter(is_default=True).update(code="JPY", symbol="¥", decimal_places=0)
    yen = Currency.objects.get(is_default=True)
    result = checkout(user, bundles=[TokenBundleFactory(price=Decimal("500"), currency=yen)])

    body = plain(result)

    assert body == serialized(result)
    assert body["invoice"]["total_amount"] == "500"
    assert body["token_bundles"][0]["unit_price"] == "500"
    assert Event.objects.get(type="invoice.created").data["total"] == "500"


def test_a_paid_invoice_answers_what_its_serializer_would(user, catalog):
    result = checkout(user, bundles=[catalog["small"]])
    capture(result.invoice)
    invoice = Invoice.objects.get(pk=result.invoice.pk)

    body = as_json(invoice_body(invoice, list(invoice.line_items.all())))

    assert body == as_json(InvoiceSerializer(invoice).data)
    assert body["pdf_url"] is not None
    assert body["paid_at"] is not None
