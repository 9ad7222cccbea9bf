"""Refunds racing spending and each other, with real threads on PostgreSQL (each with its own
connection), directly and through PgBouncer in transaction pooling."""

import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client

from accounts.tests.factories import UserFactory
from billing import services
from billing.models import AddOnSubscription, Invoice, PaymentEvent, TokenBundlePurchase
from billing.services.stripe_webhook import delivery as webhook_delivery
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.errors import InvalidState
from common.tests.concurrency import meeting, run_together
from common.tests.waits import sessions_waiting_on_a_lock, wait_until
from conftest import client_for
from tokens import services as token_services
from tokens.models import TokenAccount, TokenAllocation, TokenLot, TokenTransaction
from tokens.selectors import ledger_check
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.through_pgbouncer]

STRIPE = "/api/v1/webhooks/stripe"


def taken_from(lot: TokenLot, transaction_type: str) -> int:
    """What entries of this type took from the lot, as a positive number."""
    allocations = TokenAllocation.objects.filter(
        lot=lot, entry__transaction_type=transaction_type
    ).values_list("amount", flat=True)
    return -sum(allocations)


@pytest.mark.parametrize("refund_position", [0, 10, 20])
def test_an_invoice_refund_racing_20_consumes_takes_only_what_is_left_of_its_lot(
    refund_position,
):
    """A free lot of 300 burns first, then the purchase's lot of 1000; 20 consumes of 60
    (1200) race the refund, which takes back whatever the purchase's lot holds when it
    runs and never a token of the free lot."""
    user = UserFactory()
    free = grant(user, 300)
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=1000, price=Decimal("5"))])
    capture(order.invoice)
    bought = TokenLot.objects.get(account__user=user, category="paid")
    clients = [client_for(user) for _ in range(20)]
    calls = [
        lambda index=index: clients[index].post(
            "/api/v1/user/tokens/consume",
            {"amount": 60},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"job-{index}",
        )
        for index in range(20)
    ]
    calls.insert(refund_position, lambda: services.invoice_refund(invoice_id=order.invoice.pk))

    outcomes = run_together(calls, workers=11)

    [refund] = [o for o in outcomes if isinstance(o, services.RefundResult)]
    consumed = [o for o in outcomes if not isinstance(o, services.RefundResult)]
    assert {response.status_code for response in consumed} <= {201, 402}
    spent = 60 * sum(response.status_code == 201 for response in consumed)
    reversed_entry = TokenTransaction.objects.filter(
        account__user=user, transaction_type="reversal"
    )
    reversed_tokens = -sum(reversed_entry.values_list("amount", flat=True))
    assert reversed_tokens == refund.tokens_reversed == taken_from(bought, "reversal")
    assert taken_from(bought, "usage") + reversed_tokens == 1000
    assert refund.tokens_unrecovered == 1000 - reversed_tokens
    purchase = TokenBundlePurchase.objects.get(invoice=order.invoice)
    assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (
        refund.tokens_reversed,
        refund.tokens_unrecovered,
    )
    assert TokenLot.objects.get(pk=bought.pk).remaining == 0
    assert taken_from(free, "reversal") == 0
    assert TokenLot.objects.get(pk=free.pk).remaining == 300 - taken_from(free, "usage")
    balance = TokenAccount.objects.get(user=user).balance
    assert balance == 1300 - spent - reversed_tokens >= 0
    assert not TokenLot.objects.filter(remaining__lt=0).exists()
    assert not TokenTransaction.objects.filter(balance_after__lt=0).exists()
    assert list(ledger_check()) == []


@pytest.fixture
def stripe_invoice(fake_stripe) -> tuple[Invoice, str]:
    """An invoice paid through Stripe Checkout (captured by its webhook), and its session."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=100)]).invoice
    paid = client_for(user).post(
        f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"}, format="json"
    )
    session = paid.json()["session_id"]
    assert delivered(fake_stripe, fake_stripe.complete(session)) == "processed"
    return Invoice.objects.get(pk=invoice.pk), session


def delivered(fake_stripe, event: dict) -> str:
    body, header = fake_stripe.signed(event)
    response = Client().post(
        STRIPE, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200, response.content
    return response.json()["outcome"]


def reversed_once(invoice: Invoice) -> None:
    assert Invoice.objects.get(pk=invoice.pk).status == "refunded"
    reversals = TokenTransaction.objects.filter(
        account__user_id=invoice.user_id, transaction_type="reversal"
    )
    assert list(reversals.values_list("amount", flat=True)) == [-100]
    assert TokenAccount.objects.get(user_id=invoice.user_id).balance == 0
    assert list(ledger_check()) == []


def test_a_staff_refund_then_stripes_charge_refunded_reverses_once(stripe_invoice, fake_stripe):
    invoice, session = stripe_invoice
    staff = client_for(UserFactory(is_staff=True))

    refunded = staff.post(f"/api/v1/admin/invoices/{invoice.pk}/refund")
    outcome = delivered(fake_stripe, fake_stripe.refunded(session))

    assert refunded.status_code == 200
    assert outcome == "already_processed"
    reversed_once(invoice)


def test_a_staff_refund_and_stripes_charge_refunded_at_once_reverse_once(
    stripe_invoice, fake_stripe
):
    invoice, session = stripe_invoice
    staff = client_for(UserFactory(is_staff=True))
    event = fake_stripe.refunded(session)

    outcomes = run_together(
        [
            lambda: staff.post(f"/api/v1/admin/invoices/{invoice.pk}/refund").status_code,
            lambda: delivered(fake_stripe, event),
        ],
        workers=2,
    )

    assert sorted(map(str, outcomes)) in (
        ["200", "already_processed"],
        ["409", "processed"],
    )
    reversed_once(invoice)


def test_charge_refunded_under_two_event_ids_at_once_reverses_once(stripe_invoice, fake_stripe):
    invoice, session = stripe_invoice
    first, second = fake_stripe.refunded(session), fake_stripe.refunded(session)
    assert first["id"] != second["id"]

    outcomes = run_together(
        [lambda: delivered(fake_stripe, first), lambda: delivered(fake_stripe, second)],
        workers=2,
    )

    assert sorted(outcomes) == ["already_processed", "processed"]
    events = PaymentEvent.objects.filter(event_type="charge.refunded")
    assert sorted(events.values_list("outcome", flat=True)) == sorted(outcomes)
    reversed_once(invoice)


def test_a_stripe_refund_and_its_capture_arriving_together_end_refunded(fake_stripe, monkeypatch):
    """Stripe promises no order. The refund looked the invoice up while the capture had not
    committed, so it was held; the capture looked for held refunds while the refund had not
    committed, so it found none. Both committed: the invoice stayed paid, its tokens
    spendable, though Stripe had returned the money. The refund's transaction is paused
    after its read (until the capture is done or waits for it); the database is real."""
    user = UserFactory()
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=1000)]).invoice
    paid = client_for(user).post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "stripe"})
    session = paid.json()["session_id"]
    completed, refunded = fake_stripe.complete(session), fake_stripe.refunded(session)
    refund_read, capture_done = threading.Event(), threading.Event()
    record = webhook_delivery.event_outcome_record

    def record_after_the_capture(event, handled):
        if handled.outcome == PaymentEvent.Outcome.HELD:
            refund_read.set()
            wait_until(lambda: capture_done.is_set() or sessions_waiting_on_a_lock() > 0)
        return record(event, handled)

    monkeypatch.setattr(webhook_delivery, "event_outcome_record", record_after_the_capture)
    answers = {}

    def deliver(name: str, event: dict) -> None:
        body, signature = fake_stripe.signed(event)
        try:
            answers[name] = (
                Client()
                .post(
                    STRIPE, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
                )
                .status_code
            )
        finally:
            connections.close_all()

    refund = threading.Thread(target=deliver, args=("refund", refunded))
    refund.start()
    refund_read.wait(10)
    deliver("capture", completed)
    capture_done.set()
    refund.join()

    invoice.refresh_from_db()
    assert answers == {"refund": 200, "capture": 200}
    assert invoice.status == "refunded"
    assert TokenAccount.objects.get(user=user).balance == 0
    assert not PaymentEvent.objects.filter(outcome="held").exists()


def add_ons_relying_on_an_ended_plan() -> list[tuple]:
    """Pending checkouts of add-ons whose subscription is no longer active: payable later,
    they would activate add-ons with no active plan."""
    return list(
        AddOnSubscription.objects.filter(status="pending", invoice__status="pending")
        .exclude(subscription__status="active")
        .values_list("invoice__number", "subscription__status")
    )


@pytest.mark.parametrize("void_first", [True, False])
def test_an_invoice_refund_meeting_a_void_of_its_lot_reports_no_voided_token_as_spent(
    void_first,
):
    """Staff void the purchase's lot of 50 while the invoice is refunded: whichever commits
    first, no token of it was spent, so none is recorded as unrecovered. The one that waits
    reads what the other committed: the refund, what the void took; the void, a lot the
    refund closed (409)."""
    user = UserFactory()
    order = checkout(user, bundles=[TokenBundleFactory(token_amount=50)])
    capture(order.invoice)
    lot = TokenLot.objects.get(account__user=user, category="paid")

    def void():
        return token_services.lot_void(lot_id=lot.pk, reason="fraud check", actor_id=None)

    def refund():
        return services.invoice_refund(invoice_id=order.invoice.pk)

    answers = meeting(void, refund) if void_first else meeting(refund, void)

    purchase = TokenBundlePurchase.objects.get(invoice=order.invoice)
    voided = answers["held" if void_first else "waiting"]
    if void_first:
        assert isinstance(voided, TokenLot), voided
        assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (0, 0)
    else:
        assert isinstance(voided, InvalidState), voided
        assert (purchase.tokens_reversed, purchase.tokens_unrecovered) == (50, 0)
    assert TokenAccount.objects.get(user=user).balance == 0
    assert list(ledger_check()) == []


def test_a_checkout_of_add_ons_while_their_plan_is_refunded_is_400_once_it_is():
    """The refund goes first and has not committed: the checkout read the subscription as
    still active, created its pending invoice, and the refund, which had already looked for
    such checkouts, committed without it. Now the checkout waits for the refund and finds no
    plan to rely on."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_on = AddOnFactory()
    client = client_for(user)

    answers = meeting(
        lambda: services.invoice_refund(invoice_id=plan.pk),
        lambda: client.post(
            "/api/v1/user/checkout", {"add_on_ids": [str(add_on.pk)]}, format="json"
        ),
    )

    assert isinstance(answers["held"], services.RefundResult), answers["held"]
    response = answers["waiting"]
    assert (response.status_code, response.json().get("fields")) == (
        400,
        {"add_on_ids": ["Add-ons need a plan: add plan_id, or subscribe to a plan first."]},
    )
    assert add_ons_relying_on_an_ended_plan() == []
    assert list(Invoice.objects.values_list("pk", "status")) == [(plan.pk, "refunded")]
    assert not AddOnSubscription.objects.exists()


def test_a_plans_refund_while_a_checkout_of_its_add_ons_commits_cancels_that_checkout():
    """The checkout goes first and has not committed: the refund looked for pending
    checkouts of add-ons relying on the plan, found none, and committed; the checkout then
    committed an invoice for add-ons with no active plan, payable later. Now the refund
    waits for the checkout and cancels it."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan)
    add_on = AddOnFactory()

    answers = meeting(
        lambda: checkout(user, add_ons=[add_on]),
        lambda: services.invoice_refund(invoice_id=plan.pk),
    )

    assert isinstance(answers["held"], services.CheckoutResult), answers["held"]
    assert isinstance(answers["waiting"], services.RefundResult), answers["waiting"]
    assert add_ons_relying_on_an_ended_plan() == []
    add_ons = answers["held"].invoice
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert AddOnSubscription.objects.get(invoice=add_ons).status == "cancelled"
    assert Invoice.objects.get(pk=plan.pk).status == "refunded"


def test_a_plans_refund_and_the_capture_of_add_ons_relying_on_it_do_not_deadlock(monkeypatch):
    """The refund took back the plan's tokens (locking the token account) and then locked the
    add-ons' pending invoice; a capture of that invoice locks it, then the token account to
    credit its bundle: each waited for the other. The refund is paused once it has taken the
    tokens back, until the capture answers or waits for a lock; the database is real."""
    user = UserFactory()
    plan = checkout(user, plan=PlanFactory(included_tokens=100)).invoice
    capture(plan)
    add_ons = checkout(user, add_ons=[AddOnFactory()], bundles=[TokenBundleFactory()]).invoice
    taken_back, answers = threading.Event(), {}
    reverse = token_services.purchases_reverse

    def reverse_then_let_the_capture_in(**kwargs):
        reverse(**kwargs)
        taken_back.set()
        wait_until(lambda: "capture" in answers or sessions_waiting_on_a_lock() > 0)

    monkeypatch.setattr(token_services, "purchases_reverse", reverse_then_let_the_capture_in)

    def refund() -> None:
        try:
            answers["refund"] = services.invoice_refund(invoice_id=plan.pk)
        except Exception as error:  # the test reports whatever either side raised
            answers["refund"] = error
        finally:
            connections.close_all()

    refunding = threading.Thread(target=refund)
    refunding.start()
    taken_back.wait(10)
    try:
        answers["capture"] = capture(add_ons, reference="pay-2")
    except Exception as error:  # the test reports whatever either side raised
        answers["capture"] = error
    refunding.join()

    assert isinstance(answers["refund"], services.RefundResult), answers
    assert isinstance(answers["capture"], InvalidState), answers
    assert Invoice.objects.get(pk=add_ons.pk).status == "cancelled"
    assert not AddOnSubscription.objects.filter(status="active").exists()
    assert TokenAccount.objects.get(user=user).balance == 0
