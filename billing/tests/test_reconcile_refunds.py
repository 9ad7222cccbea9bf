import pytest

from billing.models import (
    Invoice,
)
from billing.tests.reconcile_helpers import delivered, paid_with_stripe, reconcile
from common.tests.helpers import database_state
from tokens.models import TokenAccount, TokenTransaction

pytestmark = pytest.mark.django_db


def partly(invoice: Invoice) -> str:
    """What a partial refund's event tells a person of the 5.00 USD payment of `invoice`."""
    return (
        "Partly refunded (1.00 USD of 5.00 USD) at Stripe; only whole refunds are applied "
        f"here, and invoice {invoice.number}, which it paid, is paid and its tokens are as they "
        "were: refund the invoice to return the rest and take its tokens back, or settle it "
        "by hand."
    )


def test_a_refund_whose_webhook_was_lost_is_applied_once(user, user_client, bundle, fake_stripe):
    """Refunded in Stripe's dashboard; its `charge.refunded` never arrived. The PaymentIntent
    stays `succeeded`, so before, reconciliation found nothing: the invoice stayed paid and
    its tokens spendable though the money had gone back."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    lost = fake_stripe.refunded(invoice.stripe_session_id)
    before = database_state()

    dry_run, _ = reconcile("--dry-run")
    assert (dry_run["invoices_refunded"], database_state()) == (1, before)

    first, code = reconcile()
    second, _ = reconcile()

    assert (code, first["invoices_refunded"], second["invoices_refunded"]) == (0, 1, 0)
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    assert TokenAccount.objects.get(user=user).balance == 0
    assert TokenTransaction.objects.filter(transaction_type="reversal").count() == 1
    assert delivered(fake_stripe, lost) == "already_processed"
    assert TokenTransaction.objects.filter(transaction_type="reversal").count() == 1


def test_a_partial_refund_whose_webhook_was_lost_is_listed_and_changes_nothing(
    user, user_client, bundle, fake_stripe
):
    """Only whole refunds are applied, as by the webhook, which flags a partial one for a
    person. With that webhook lost, the person hears of it from reconciliation instead."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    reference = Invoice.objects.get(pk=invoice.pk).payment_reference
    before = database_state()

    report, code = reconcile()

    assert (code, report["invoices_refunded"]) == (0, 0)
    assert report["needs_review"] == [
        f"{invoice.number}: Stripe has refunded 1.00 USD of 5.00 USD of {reference}, and no "
        "charge.refunded webhook told of it; only whole refunds are applied here."
    ]
    assert database_state() == before


def test_a_partial_refund_whose_webhook_came_is_listed_once(user, user_client, bundle, fake_stripe):
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    event = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, event) == "needs_review"

    report, _ = reconcile()

    assert report["needs_review"] == [
        f"stripe event {event['id']} (charge.refunded) for {invoice.number}: {partly(invoice)}"
    ]


def test_a_further_partial_refund_whose_webhook_was_lost_is_listed(
    user, user_client, bundle, fake_stripe
):
    """The webhook of a first partial refund came (and a person may have settled it); the
    one of a second was lost. Stripe now has refunded more than any webhook told of: that
    is listed, as the second webhook would have flagged it."""
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    first = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, first) == "needs_review"
    fake_stripe.refunded(invoice.stripe_session_id, amount=300)
    reference = Invoice.objects.get(pk=invoice.pk).payment_reference

    report, _ = reconcile()

    assert report["needs_review"] == [
        f"{invoice.number}: Stripe has refunded 3.00 USD of 5.00 USD of {reference}, and no "
        "charge.refunded webhook told of it; only whole refunds are applied here.",
        f"stripe event {first['id']} (charge.refunded) for {invoice.number}: {partly(invoice)}",
    ]


def test_payment_events_flagged_for_review_are_counted_and_listed(
    user, user_client, bundle, fake_stripe
):
    invoice = paid_with_stripe(user, user_client, bundle, fake_stripe)
    event = fake_stripe.refunded(invoice.stripe_session_id, amount=100)
    assert delivered(fake_stripe, event) == "needs_review"
    before = database_state()

    report, code = reconcile()

    assert code == 0
    assert report["payments_needing_review"] == 1
    assert report["needs_review"] == [
        f"stripe event {event['id']} (charge.refunded) for {invoice.number}: {partly(invoice)}"
    ]
    assert database_state() == before
