"""The schema's answers list as required every field the API always sends, so a client
generated from it does not have to treat an invoice's `status` as possibly absent."""

import pytest

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import PlanFactory, TokenBundleFactory

# The answer fields the API leaves out of some answers, and when.
SOMETIMES_ABSENT = {
    "Error": {"fields"},  # only on validation errors
    "HistoryPage": {"page", "pages", "total"},  # not on a key page (`cursor`)
    "HoldResponse": {"balance"},  # not on a release
    "PayResponse": {"session_id"},  # not for the test provider
}


def answer_components(schema) -> dict:
    """The components that describe answers (request bodies are the `...Request` ones)."""
    components = schema["components"]["schemas"]
    return {
        name: component
        for name, component in components.items()
        if not name.endswith("Request") and "properties" in component
    }


def test_every_answer_field_is_required_unless_some_answers_leave_it_out(schema):
    optional = {
        name: set(component["properties"]) - set(component.get("required", []))
        for name, component in answer_components(schema).items()
    }

    assert {name: fields for name, fields in optional.items() if fields} == SOMETIMES_ABSENT


@pytest.mark.django_db
def test_the_answers_carry_every_field_their_schema_requires(schema, user, user_client):
    """What the test above requires is what the API sends: an invoice, its subscription and
    the public plan listing, before and after payment (null then, but present)."""
    components = schema["components"]["schemas"]
    plan = PlanFactory()
    pending = checkout(user, plan=plan, bundles=[TokenBundleFactory()]).invoice
    capture(checkout(user, plan=plan).invoice)

    invoice = user_client.get(f"/api/v1/user/invoices/{pending.pk}").json()
    current = user_client.get("/api/v1/user/subscription").json()
    plans = user_client.get("/api/v1/plans").json()["items"]
    me = user_client.get("/api/v1/auth/me").json()

    assert set(components["Invoice"]["required"]) <= set(invoice)
    assert set(components["InvoiceLineItem"]["required"]) <= set(invoice["line_items"][0])
    assert set(components["CurrentSubscription"]["required"]) <= set(current)
    assert set(components["PublicPlan"]["required"]) <= set(plans[0])
    assert set(components["User"]["required"]) <= set(me)
    assert {"status", "paid_at", "payment_reference"} <= set(components["Invoice"]["required"])


def test_a_lot_s_status_is_one_of_the_four_the_api_sends(schema):
    """Clients generate an enum from it, as for every other status the API answers."""
    components = schema["components"]["schemas"]
    status = components["Lot"]["properties"]["status"]

    assert status["allOf"] == [{"$ref": "#/components/schemas/LotStatusEnum"}]
    assert components["LotStatusEnum"]["enum"] == ["active", "expired", "spent", "voided"]
