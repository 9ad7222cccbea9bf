from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils.html import escape

from billing.models import (
    AddOnSubscription,
    Invoice,
    PaymentEvent,
    Subscription,
    TokenBundlePurchase,
)
from billing.services.events import event_record
from billing.tests.helpers import capture, checkout, deliver, payment_body
from billing.tests.refund_helpers import stripe_paid
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.audit import history
from common.tests.helpers import database_state
from tokens.models import TokenAccount

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:billing_invoice_changelist"


@pytest.fixture
def order(user):
    return checkout(
        user, plan=PlanFactory(), bundles=[TokenBundleFactory()], add_ons=[AddOnFactory()]
    )


@pytest.mark.parametrize(
    "model", [Invoice, Subscription, AddOnSubscription, TokenBundlePurchase, PaymentEvent]
)
def test_billing_pages_render_read_only(staff_browser, api_client, order, model):
    deliver(api_client, payment_body(order.invoice))
    row = model.objects.order_by("pk").first()
    meta = model._meta
    prefix = f"admin:{meta.app_label}_{meta.model_name}"

    changelist = staff_browser.get(reverse(f"{prefix}_changelist"))
    change = staff_browser.get(reverse(f"{prefix}_change", args=[row.pk]))
    add = staff_browser.get(reverse(f"{prefix}_add"))

    assert changelist.status_code == change.status_code == 200
    assert add.status_code == 403
    assert 'name="_save"' not in change.content.decode()


def test_invoice_page_shows_its_line_items(staff_browser, order):
    page = staff_browser.get(reverse("admin:billing_invoice_change", args=[order.invoice.pk]))

    descriptions = order.invoice.line_items.values_list("description", flat=True)
    assert all(description in page.content.decode() for description in descriptions)


def test_invoices_search_by_number_and_email_and_filter_by_status(staff_browser, order, user):
    by_number = staff_browser.get(reverse(CHANGELIST), {"q": order.invoice.number})
    by_email = staff_browser.get(reverse(CHANGELIST), {"q": user.email})
    by_status = staff_browser.get(reverse(CHANGELIST), {"status__exact": "paid"})

    assert list(by_number.context["cl"].result_list) == [order.invoice]
    assert list(by_email.context["cl"].result_list) == [order.invoice]
    assert list(by_status.context["cl"].result_list) == []


def test_mark_paid_asks_for_a_reference_then_captures(staff_browser, order, user):
    selected = {"action": "mark_paid", ACTION_CHECKBOX_NAME: [order.invoice.pk]}

    form = staff_browser.post(reverse(CHANGELIST), selected)
    done = staff_browser.post(
        reverse(CHANGELIST), {**selected, "apply": "1", "payment_reference": "wire-7"}
    )

    assert form.status_code == 200
    assert 'name="payment_reference"' in form.content.decode()
    assert done.status_code == 302
    invoice = Invoice.objects.get(pk=order.invoice.pk)
    assert (invoice.status, invoice.provider, invoice.payment_reference) == (
        "paid",
        "manual",
        "wire-7",
    )
    assert user.token_account.balance == order.purchases[0].tokens


def test_mark_paid_of_an_invoice_marked_paid_already_says_so_and_credits_once(
    staff_browser, order, user
):
    """Before, the action answered "is paid." to the second tab too."""
    selected = {"action": "mark_paid", ACTION_CHECKBOX_NAME: [order.invoice.pk]}
    staff_browser.post(reverse(CHANGELIST), {**selected, "apply": "1", "payment_reference": "w-8"})
    before = database_state()

    again = staff_browser.post(
        reverse(CHANGELIST), {**selected, "apply": "1", "payment_reference": "w-8"}, follow=True
    )

    assert f"{order.invoice.number} was already paid with w-8; nothing changed." in (
        again.content.decode()
    )
    assert database_state() == before
    assert user.token_account.balance == order.purchases[0].tokens


def test_mark_paid_of_several_invoices_is_refused(staff_browser, order, user):
    other = checkout(user, bundles=[TokenBundleFactory()])

    response = staff_browser.post(
        reverse(CHANGELIST),
        {"action": "mark_paid", ACTION_CHECKBOX_NAME: [order.invoice.pk, other.invoice.pk]},
        follow=True,
    )

    assert "Select exactly one invoice" in response.content.decode()
    assert set(Invoice.objects.values_list("status", flat=True)) == {"pending"}


def test_cancel_action_cancels_pending_and_reports_the_rest(staff_browser, order, user):
    paid = checkout(user, bundles=[TokenBundleFactory()]).invoice
    capture(paid)

    response = staff_browser.post(
        reverse(CHANGELIST),
        {"action": "cancel", ACTION_CHECKBOX_NAME: [order.invoice.pk, paid.pk]},
        follow=True,
    )

    assert Invoice.objects.get(pk=order.invoice.pk).status == "cancelled"
    assert Invoice.objects.get(pk=paid.pk).status == "paid"
    assert "Only a pending invoice can be cancelled" in response.content.decode()


def test_refund_action_refunds_and_tells_what_was_taken_back(staff_browser, order, user):
    capture(order.invoice)

    response = staff_browser.post(
        reverse(CHANGELIST),
        {"action": "refund", ACTION_CHECKBOX_NAME: [order.invoice.pk], "post": "yes"},
        follow=True,
    )

    assert Invoice.objects.get(pk=order.invoice.pk).status == "refunded"
    assert f"{order.invoice} is refunded: {order.purchases[0].tokens} tokens taken back" in (
        response.content.decode()
    )


def test_refund_action_asks_first_and_refunds_nothing_until_confirmed(
    staff_browser, user, fake_stripe
):
    """Choosing Refund in the action list refunded at once, at Stripe too: one misclick
    returned the money of every invoice ticked. It now asks, as the invoice page does."""
    invoice = stripe_paid(user, fake_stripe)
    before = database_state()

    page = staff_browser.post(
        reverse(CHANGELIST), {"action": "refund", ACTION_CHECKBOX_NAME: [invoice.pk]}
    )

    assert page.status_code == 200
    assert database_state() == before
    assert not [call for call in fake_stripe.requests if call.path == "/v1/refunds"]
    assert f"<strong>{invoice}</strong>" in page.content.decode()
    assert 'name="post" value="yes"' in page.content.decode()

    staff_browser.post(
        reverse(CHANGELIST),
        {"action": "refund", ACTION_CHECKBOX_NAME: [invoice.pk], "post": "yes"},
    )

    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert [call.path for call in fake_stripe.requests] == ["/v1/refunds"]


def test_refund_confirmation_counts_only_the_paid_invoices_it_will_refund(
    staff_browser, user, fake_stripe
):
    """Its button said "Yes, refund 2 invoices" of one paid and one pending invoice; only the
    paid one is refunded."""
    paid = stripe_paid(user, fake_stripe)
    pending = checkout(user, bundles=[TokenBundleFactory()]).invoice

    page = staff_browser.post(
        reverse(CHANGELIST), {"action": "refund", ACTION_CHECKBOX_NAME: [paid.pk, pending.pk]}
    )

    content = page.content.decode()
    assert 'value="Yes, refund 1 invoice"' in content
    assert f"<strong>{pending}</strong>" in content


def test_refund_of_a_plan_tells_its_included_tokens_were_taken_back(
    staff_browser, staff_user, user
):
    """A plan's included tokens are voided by its refund, not counted with the purchases':
    staff were told, and the invoice's history said, "0 tokens taken back" while the
    customer's 100 included tokens had just gone."""
    invoice = checkout(user, plan=PlanFactory(included_tokens=100)).invoice
    capture(invoice)

    response = staff_browser.post(
        reverse(CHANGELIST),
        {"action": "refund", ACTION_CHECKBOX_NAME: [invoice.pk], "post": "yes"},
        follow=True,
    )

    assert TokenAccount.objects.get(user=user).balance == 0
    told = f"{invoice} is refunded: 0 tokens taken back; 100 included tokens of its plan voided."
    assert told in response.content.decode()
    assert history(invoice) == [
        (
            staff_user.email,
            "Refunded: 0 tokens taken back, and 100 included tokens of its plan voided.",
        )
    ]


def test_refund_action_does_not_call_expired_tokens_spent(staff_browser, user):
    """A purchase whose lot expired unused: the admin said its 50 tokens "were already
    spent", and staff took the customer for one who had used what was refunded."""
    bundle = TokenBundleFactory(token_amount=50, expires_after_days=1)
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False) as clock:
        invoice = checkout(user, bundles=[bundle]).invoice
        capture(invoice)
        clock.move_to(datetime(2026, 6, 3, tzinfo=UTC))

        response = staff_browser.post(
            reverse(CHANGELIST),
            {"action": "refund", ACTION_CHECKBOX_NAME: [invoice.pk], "post": "yes"},
            follow=True,
        )

    assert (
        f"{invoice} is refunded: 0 tokens taken back; 50 tokens were already spent or had "
        "expired." in response.content.decode()
    )


def test_payment_event_payload_is_pretty_printed(staff_browser, api_client, order):
    deliver(api_client, payment_body(order.invoice))
    event = PaymentEvent.objects.get()

    page = staff_browser.get(reverse("admin:billing_paymentevent_change", args=[event.pk]))

    assert "<pre>{\n  &quot;amount&quot;" in page.content.decode()


def test_payment_events_filter_by_outcome(staff_browser, api_client, order):
    deliver(api_client, payment_body(order.invoice))

    response = staff_browser.get(
        reverse("admin:billing_paymentevent_changelist"), {"outcome__exact": "processed"}
    )

    assert len(response.context["cl"].result_list) == 1


def test_reprocess_acts_on_a_failed_event_through_the_services(staff_browser, order, user):
    from billing.services.events import event_record

    body = payment_body(order.invoice).decode()
    failed = event_record(
        provider="payment",
        payload=body,
        signature_valid=True,
        event_id="evt-1",
        outcome="failed",
        error="RuntimeError: was down",
    )

    staff_browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [failed.pk]},
    )

    failed.refresh_from_db()
    assert failed.outcome == "processed"
    assert Invoice.objects.get(pk=order.invoice.pk).status == "paid"
    assert user.token_account.balance == order.purchases[0].tokens


def test_reprocess_refuses_unverified_and_processed_events(staff_browser, api_client, order):
    from billing.services.events import event_record

    deliver(api_client, payment_body(order.invoice))
    forged = event_record(provider="payment", payload="{}", signature_valid=False, error="bad")
    processed = PaymentEvent.objects.get(outcome="processed")

    response = staff_browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [forged.pk, processed.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "never acted on" in page
    assert "already been processed" in page


def test_reprocess_of_a_stored_payload_names_every_refused_field(staff_browser, order):
    """Staff fixing a provider's delivery need all that was wrong with it, not the first."""
    refused = event_record(
        provider="payment",
        payload='{"invoice_id": "nope", "payment_reference": "r", "amount": "1.001"}',
        signature_valid=True,
        outcome="rejected",
        error="refused",
    )
    before = database_state()

    response = staff_browser.post(
        reverse("admin:billing_paymentevent_changelist"),
        {"action": "reprocess", ACTION_CHECKBOX_NAME: [refused.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "invoice_id: Must be a UUID." in page
    assert "amount: Must be a non-negative amount with at most 2 decimal places." in page
    assert "currency: This field is required and must be a string." in page
    assert database_state() == before


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_a_payment_event_whose_body_is_nested_too_deeply_shows_it_as_received(staff_browser, depth):
    """Such a body is refused on delivery and kept (Stripe signed it); its page laid the
    payload out with json.loads and json.dumps, whose RecursionError was a 500."""
    body = '{"id": "evt_deep", "data": ' + "[" * depth + "]" * depth + "}"
    event = event_record(
        provider="stripe",
        payload=body,
        signature_valid=True,
        error="The body is nested too deeply.",
        event_id="evt_deep",
    )
    staff_browser.raise_request_exception = False

    response = staff_browser.get(reverse("admin:billing_paymentevent_change", args=[event.pk]))

    assert response.status_code == 200
    assert escape(body) in response.content.decode()
