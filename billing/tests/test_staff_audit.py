"""Who marked an invoice paid, cancelled or refunded it, through the admin (list actions, the
invoice page's buttons) or the staff API, and who re-processed a payment event: the row's
History names them. Before, only the admin's change pages wrote History, and invoices and
payment events have none: nothing said who did it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import capture, checkout
from billing.tests.test_admin_review_handled import flagged, mark_handled
from catalog.tests.factories import TokenBundleFactory
from common.tests.audit import history, records
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

CHANGELIST = "admin:billing_invoice_changelist"


@pytest.fixture
def pending(user) -> Invoice:
    bundle = TokenBundleFactory(token_amount=100, price=Decimal("9.00"))
    return checkout(user, bundles=[bundle]).invoice


@pytest.fixture
def paid(pending) -> Invoice:
    capture(pending)
    return pending


def operate(client, invoice: Invoice, operation: str, **data):
    url = reverse(f"admin:billing_invoice_{operation.replace('-', '_')}", args=[invoice.pk])
    return client.post(url, data)


def act(client, invoice: Invoice, action: str, **data):
    body = {"action": action, ACTION_CHECKBOX_NAME: [str(invoice.pk)], **data}
    return client.post(reverse(CHANGELIST), body)


@pytest.mark.parametrize("door", ["list action", "invoice page"])
def test_marking_paid_in_the_admin_names_the_staff_member(staff_browser, staff_user, pending, door):
    if door == "list action":
        act(staff_browser, pending, "mark_paid", apply="1", payment_reference="TR-7")
    else:
        operate(staff_browser, pending, "mark-paid", payment_reference="TR-7")

    assert Invoice.objects.get(pk=pending.pk).status == Invoice.Status.PAID
    assert history(pending) == [(staff_user.email, "Marked paid: TR-7")]


def test_marking_paid_through_the_api_names_the_staff_member(staff_client, staff_user, pending):
    response = staff_client.post(
        f"/api/v1/admin/invoices/{pending.pk}/mark-paid",
        {"payment_reference": "TR-7"},
        format="json",
    )

    assert response.status_code == 200
    assert history(pending) == [(staff_user.email, "Marked paid: TR-7")]


@pytest.mark.parametrize("door", ["list action", "invoice page"])
def test_cancelling_in_the_admin_names_the_staff_member(staff_browser, staff_user, pending, door):
    if door == "list action":
        act(staff_browser, pending, "cancel")
    else:
        operate(staff_browser, pending, "cancel")

    assert Invoice.objects.get(pk=pending.pk).status == Invoice.Status.CANCELLED
    assert history(pending) == [(staff_user.email, "Cancelled.")]


@pytest.mark.parametrize("door", ["list action", "invoice page"])
def test_refunding_in_the_admin_names_the_staff_member(staff_browser, staff_user, paid, door):
    if door == "list action":
        act(staff_browser, paid, "refund", post="yes")
    else:
        operate(staff_browser, paid, "refund")

    assert Invoice.objects.get(pk=paid.pk).status == Invoice.Status.REFUNDED
    assert history(paid) == [(staff_user.email, "Refunded: 100 tokens taken back.")]


def test_refunding_through_the_api_names_the_staff_member(staff_client, staff_user, paid):
    response = staff_client.post(f"/api/v1/admin/invoices/{paid.pk}/refund")

    assert response.status_code == 200
    assert history(paid) == [(staff_user.email, "Refunded: 100 tokens taken back.")]


def test_the_invoice_history_page_shows_who_refunded_it(staff_browser, staff_user, paid):
    act(staff_browser, paid, "refund", post="yes")

    page = staff_browser.get(reverse("admin:billing_invoice_history", args=[paid.pk]))

    assert page.status_code == 200
    assert staff_user.email in page.content.decode()
    assert "Refunded: 100 tokens taken back." in page.content.decode()


def test_a_refused_refund_records_nothing(staff_browser, staff_client, pending):
    before, logged = database_state(), records()

    refused = staff_client.post(f"/api/v1/admin/invoices/{pending.pk}/refund")
    act(staff_browser, pending, "refund", post="yes")
    operate(staff_browser, pending, "refund")

    assert refused.status_code == 409
    assert database_state() == before
    assert records() == logged


def test_a_payment_without_staff_records_nothing(pending):
    logged = records()

    capture(pending)

    assert Invoice.objects.get(pk=pending.pk).status == Invoice.Status.PAID
    assert records() == logged


def test_reprocessing_and_settling_a_payment_event_name_the_staff_member(
    staff_browser, staff_user, user
):
    """Settling is on the event's row too (`handled_by`), but re-processing clears it."""
    event = flagged(user, "evt-1")

    mark_handled(staff_browser, [event], note="Asked the provider.")
    staff_browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [event.pk]},
    )

    assert PaymentEvent.objects.get(pk=event.pk).outcome == "processed"
    assert history(event) == [
        (staff_user.email, "Marked handled: Asked the provider."),
        (staff_user.email, "Re-processed: processed."),
    ]


def test_reprocessing_a_processed_event_records_nothing(staff_browser, user):
    event = flagged(user, "evt-1")
    PaymentEvent.objects.filter(pk=event.pk).update(outcome="processed")
    before, logged = database_state(), records()

    staff_browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [event.pk]},
    )

    assert database_state() == before
    assert records() == logged
