"""Checkout and capture cost a fixed number of queries whatever the number of items.

Measured without a wrapping test transaction, as in production (Django counts BEGIN and
COMMIT too). Each kind of item in a cart costs one read and one insert: a plan adds the plan
read and the subscription insert, add-ons the add-on read and their insert.
"""

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

KIND_COST = 2


def cart(plans: int, bundles: int, add_ons: int) -> dict:
    return {
        "plan_id": str(PlanFactory().pk) if plans else None,
        "token_bundle_ids": [str(b.pk) for b in TokenBundleFactory.create_batch(bundles)],
        "add_on_ids": [str(a.pk) for a in AddOnFactory.create_batch(add_ons)],
    }


def checkout_queries(body: dict) -> tuple[int, str]:
    client = client_for(UserFactory())
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/user/checkout", body, format="json")
    assert response.status_code == 201, response.content
    return len(queries), response.json()["invoice"]["id"]


def test_60_items_cost_what_3_items_of_the_same_kinds_cost():
    three, _ = checkout_queries(cart(1, 1, 1))
    sixty, _ = checkout_queries(cart(1, 30, 29))

    assert sixty == three


def test_one_bundle_and_60_items_differ_only_by_the_two_extra_kinds():
    one, _ = checkout_queries(cart(0, 1, 0))
    sixty, _ = checkout_queries(cart(1, 30, 29))

    assert sixty - one == 2 * KIND_COST


def test_checkout_of_60_items_stays_within_its_budget(django_assert_max_num_queries):
    body = cart(1, 30, 29)
    client = client_for(UserFactory())

    with django_assert_max_num_queries(12):
        response = client.post("/api/v1/user/checkout", body, format="json")

    assert response.status_code == 201


def test_60_items_look_the_connection_up_as_often_as_3_items(monkeypatch):
    """Each look-up costs about 17,000 instructions (docs/decisions.md, Speed): a cart's ids
    are prepared for its read on one connection, not one look-up each."""
    client = client_for(UserFactory())
    look_ups: list[str] = []
    look_up = ConnectionHandler.__getitem__

    def counted(self, alias):
        look_ups.append(alias)
        return look_up(self, alias)

    small, large = cart(1, 1, 1), cart(1, 30, 29)
    for body in (small, large):  # the statements of each size built once
        assert client.post("/api/v1/user/checkout", body, format="json").status_code == 201
    monkeypatch.setattr(ConnectionHandler, "__getitem__", counted)
    counts = []
    for body in (small, large):
        look_ups.clear()
        response = client.post("/api/v1/user/checkout", body, format="json")
        assert response.status_code == 201, response.content
        counts.append(len(look_ups))

    assert counts[1] == counts[0]


def capture_queries(body: dict) -> int:
    from billing.models import Invoice

    _, invoice_id = checkout_queries(body)
    invoice = Invoice.objects.select_related("currency").get(pk=invoice_id)
    with CaptureQueriesContext(connection) as queries:
        result = capture(invoice, reference=f"pay-{invoice_id}")
    assert result.status == "success"
    return len(queries)


def test_capture_of_60_items_costs_what_capture_of_3_costs():
    assert capture_queries(cart(1, 30, 29)) == capture_queries(cart(1, 1, 1))


def test_capture_of_one_bundle_stays_within_its_budget():
    """10 with the buyer's first credit (the ledger's one statement creates the account) and
    the outgoing events (one statement): it was 13 before either."""
    assert capture_queries(cart(0, 1, 0)) <= 10


def test_checkout_with_an_idempotency_key_costs_its_transaction_and_record(
    django_assert_max_num_queries,
):
    """The key adds only the record's INSERT: inside the key's transaction the checkout
    takes no savepoint of its own (a duplicate breaks that transaction, which then answers
    from the first request's record)."""
    body = cart(1, 30, 29)
    client = client_for(UserFactory())

    with django_assert_max_num_queries(13):
        response = client.post(
            "/api/v1/user/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="cart"
        )

    assert response.status_code == 201
