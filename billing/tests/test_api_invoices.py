from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.tests.factories import UserFactory
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from catalog.models import BillingPeriod
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

SOME_ID = "3f2b8a1e-5c4d-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def bundle():
    return TokenBundleFactory(token_amount=100, price=Decimal("9.50"))


def test_invoices_lists_only_mine_newest_first(user_client, user, bundle):
    first = checkout(user, bundles=[bundle]).invoice
    second = checkout(user, bundles=[bundle, bundle]).invoice
    checkout(UserFactory(), bundles=[bundle])

    body = user_client.get("/api/v1/user/invoices").json()

    assert [item["id"] for item in body["items"]] == [str(second.pk), str(first.pk)]
    assert body["total"] == 2
    assert body["items"][0]["line_items"][0]["quantity"] == 2
    assert body["items"][0]["total_amount"] == "19.00"


def test_invoices_filter_by_status(user_client, user, bundle):
    paid = checkout(user, bundles=[bundle]).invoice
    capture(paid)
    checkout(user, bundles=[bundle])

    body = user_client.get("/api/v1/user/invoices", {"status": "paid"}).json()

    assert [item["id"] for item in body["items"]] == [str(paid.pk)]
    assert body["items"][0]["paid_at"] is not None
    assert body["items"][0]["payment_reference"] == "pay-1"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"page": 0}, "page"),
        ({"per_page": 500}, "per_page"),
        ({"status": ""}, "status"),
        ({"status": ["paid", "pending"]}, "status"),
        ({"per_page": ""}, "per_page"),
    ],
)
def test_invoice_list_refuses_bad_parameters(user_client, params, field):
    response = user_client.get("/api/v1/user/invoices", params)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(
    "user_param", ["", "not-a-uuid", "0" * 32, f"urn:uuid:{SOME_ID}", [SOME_ID, SOME_ID]]
)
def test_staff_invoice_list_refuses_a_malformed_user(staff_client, user_param):
    response = staff_client.get("/api/v1/admin/invoices", {"user": user_param})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["user"]


def test_invoice_detail(user_client, user, bundle):
    invoice = checkout(user, bundles=[bundle]).invoice

    body = user_client.get(f"/api/v1/user/invoices/{invoice.pk}").json()

    assert (body["id"], body["number"], body["status"]) == (
        str(invoice.pk),
        invoice.number,
        "pending",
    )
    assert body["currency"]["code"] == "USD"


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", "/cancel")], ids=["detail", "cancel"]
)
def test_another_users_invoice_is_404_on_every_route(user_client, bundle, method, suffix):
    theirs = checkout(UserFactory(), bundles=[bundle]).invoice
    before = database_state()

    response = getattr(user_client, method)(f"/api/v1/user/invoices/{theirs.pk}{suffix}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert database_state() == before


@pytest.mark.parametrize("invoice_id", [uuid4(), "not-a-uuid"])
def test_unknown_invoices_are_404(user_client, invoice_id):
    assert user_client.get(f"/api/v1/user/invoices/{invoice_id}").status_code == 404
    assert user_client.post(f"/api/v1/user/invoices/{invoice_id}/cancel").status_code == 404


def test_cancel_a_pending_invoice(user_client, user, bundle):
    invoice = checkout(user, plan=PlanFactory(), bundles=[bundle]).invoice

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert invoice.token_purchases.get().status == "cancelled"
    assert invoice.subscriptions.get().status == "cancelled"


def test_cancel_a_paid_invoice_is_409_and_changes_nothing(user_client, user, bundle):
    invoice = checkout(user, bundles=[bundle]).invoice
    capture(invoice)
    before = database_state()

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/cancel")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert database_state() == before


def test_current_subscription_is_the_newest_active_with_its_add_ons(user_client, user):
    old = checkout(user, plan=PlanFactory(name="Basic"))
    capture(old.invoice, reference="old")
    # Another plan starts at its payment (the same one again would wait for the old period).
    current = checkout(
        user, plan=PlanFactory(name="Monthly"), add_ons=[AddOnFactory(name="Support")]
    )
    capture(current.invoice, reference="new")
    checkout(user, plan=PlanFactory(name="Pending one"))

    body = user_client.get("/api/v1/user/subscription").json()

    assert (body["id"], body["status"], body["plan_name"]) == (
        str(current.subscription.pk),
        "active",
        "Monthly",
    )
    assert [(a["name"], a["status"]) for a in body["add_ons"]] == [("Support", "active")]


def test_current_subscription_falls_back_to_the_newest_pending(user_client, user):
    pending = checkout(user, plan=PlanFactory(billing_period=BillingPeriod.YEARLY))

    body = user_client.get("/api/v1/user/subscription").json()

    assert (body["id"], body["status"], body["starts_at"]) == (
        str(pending.subscription.pk),
        "pending",
        None,
    )


def test_no_subscription_is_404(user_client):
    response = user_client.get("/api/v1/user/subscription")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_staff_list_all_invoices_filtered(staff_client, user, bundle):
    mine = checkout(user, bundles=[bundle]).invoice
    checkout(UserFactory(), bundles=[bundle])

    everyone = staff_client.get("/api/v1/admin/invoices").json()
    filtered = staff_client.get(
        "/api/v1/admin/invoices", {"user": str(user.pk), "status": "pending"}
    )

    assert everyone["total"] == 2
    assert [item["id"] for item in filtered.json()["items"]] == [str(mine.pk)]
    assert filtered.json()["items"][0]["user_email"] == user.email


def test_staff_mark_paid_captures_with_provider_manual(staff_client, user, bundle):
    invoice = checkout(user, bundles=[bundle]).invoice

    response = staff_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "bank-2026-001"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["provider"], body["payment_reference"]) == (
        "paid",
        "manual",
        "bank-2026-001",
    )
    assert user.token_account.balance == 100


def test_staff_mark_paid_of_an_invoice_paid_by_another_payment_is_409(staff_client, user, bundle):
    invoice = checkout(user, bundles=[bundle]).invoice
    staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "a"})
    before = database_state()

    response = staff_client.post(
        f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "b"}
    )

    assert response.status_code == 409
    assert database_state() == before


@pytest.mark.parametrize("body", [{}, {"payment_reference": ""}, {"payment_reference": "x" * 256}])
def test_staff_mark_paid_needs_a_reference(staff_client, user, bundle, body):
    invoice = checkout(user, bundles=[bundle]).invoice
    before = database_state()

    response = staff_client.post(f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", body)

    assert response.status_code == 400
    assert "payment_reference" in response.json()["fields"]
    assert database_state() == before


def test_staff_routes_need_staff(api_client, user_client, user, bundle):
    invoice = checkout(user, bundles=[bundle]).invoice
    before = database_state()

    for client, status in ((api_client, 401), (user_client, 403)):
        assert client.get("/api/v1/admin/invoices").status_code == status
        paid = client.post(
            f"/api/v1/admin/invoices/{invoice.pk}/mark-paid", {"payment_reference": "x"}
        )
        assert paid.status_code == status
    assert database_state() == before
    assert Invoice.objects.get(pk=invoice.pk).status == "pending"


def test_invoice_lists_cost_a_fixed_number_of_queries(
    user_client, staff_client, user, bundle, django_assert_max_num_queries
):
    for _ in range(30):
        checkout(user, bundles=[bundle, TokenBundleFactory()])

    with django_assert_max_num_queries(3):
        mine = user_client.get("/api/v1/user/invoices", {"per_page": 30})
    # One more than before staff roles held reads too: the staff member's role.
    with django_assert_max_num_queries(6):
        everyone = staff_client.get("/api/v1/admin/invoices", {"per_page": 30})

    assert len(mine.json()["items"]) == len(everyone.json()["items"]) == 30
