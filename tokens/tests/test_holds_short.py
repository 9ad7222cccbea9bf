"""Captures when the account's holds reserve more than it has: a refund took back a lot the
holds counted on (docs/api.md, "Decided: a hold reserves an amount")."""

from datetime import UTC, datetime

import pytest
import time_machine

from billing import services as billing_services
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from events.models import Event
from tokens import selectors, services
from tokens.models import Hold
from tokens.tests.factories import grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
HOLDS = "/api/v1/user/holds"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def hold(client, amount: int, key: str) -> str:
    response = client.post(HOLDS, {"amount": amount}, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201
    return response.json()["hold"]["id"]


def take(client, hold_id: str, amount: int, key: str):
    return client.post(f"{HOLDS}/{hold_id}/capture", {"amount": amount}, HTTP_IDEMPOTENCY_KEY=key)


def refunded_under_holds(user, client, *, granted: int, bought: int, holds: list[int]):
    """`granted` free tokens and `bought` paid ones, holds of `holds` that reserve them all,
    then the purchase refunded: its lot is taken back under the holds."""
    grant(user, granted)
    invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=bought)]).invoice
    capture(invoice)
    made = [hold(client, amount, f"h{n}") for n, amount in enumerate(holds)]
    billing_services.invoice_refund(invoice_id=invoice.pk)
    return made


def test_a_capture_after_a_refund_took_tokens_its_holds_counted_on_takes_what_is_left(
    user_client, user
):
    """40 granted and 60 bought, two holds of 50, the purchase refunded: 40 left, 100 held.
    Both captures were 402 ("balance 40 (-10 available)"): the 40 tokens could pay for
    neither hold's work until the holds were released or expired."""
    first, second = refunded_under_holds(user, user_client, granted=40, bought=60, holds=[50, 50])

    taken = take(user_client, first, 50, "c1")
    nothing_left = take(user_client, second, 50, "c2")

    assert taken.status_code == 200, taken.json()
    assert (taken.json()["usage"]["amount"], taken.json()["usage"]["charged"]) == (50, 40)
    assert (taken.json()["hold"]["status"], taken.json()["hold"]["captured"]) == ("captured", 50)
    assert nothing_left.status_code == 402
    assert nothing_left.json() == {
        "error": "The balance is 0 tokens; this needs 50.",
        "code": "insufficient_tokens",
        "balance": 0,
        "available": 0,
        "needed": 50,
    }
    assert Hold.objects.get(pk=second).status == "active"
    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.held, shown.available) == (0, 50, -50)
    assert list(selectors.ledger_check()) == []


def test_short_the_first_capture_is_charged_in_full_and_the_next_takes_what_is_left(
    user_client, user
):
    """70 granted and 30 bought, two holds of 50, the purchase refunded: 70 left, 100 held.
    The first capture takes its 50 (not 70 less the other hold's 50, which charged a capture
    less the more tokens there were: 50 with 50 left, 1 with 51), the second the 20 left."""
    first, second = refunded_under_holds(user, user_client, granted=70, bought=30, holds=[50, 50])

    in_full = take(user_client, first, 50, "c1")
    the_rest = take(user_client, second, 50, "c2")

    assert in_full.json()["usage"]["charged"] == 50
    assert the_rest.json()["usage"]["charged"] == 20
    assert the_rest.json()["hold"]["status"] == "captured"
    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.held, shown.available) == (0, 0, 0)
    assert list(selectors.ledger_check()) == []


def test_short_a_capture_then_a_release_leaves_nothing_unpaid(user_client, user):
    """What a capture leaves behind is there for the next one, and the hold released after it
    takes nothing: the 60 left paid for the work that was done."""
    first, second = refunded_under_holds(user, user_client, granted=60, bought=40, holds=[50, 50])

    taken = take(user_client, first, 50, "c1")
    released = user_client.post(f"{HOLDS}/{second}/release")

    assert (taken.json()["usage"]["charged"], released.json()["hold"]["status"]) == (
        50,
        "released",
    )
    shown = selectors.token_balance(user_id=user.pk)
    assert (shown.balance, shown.held, shown.available) == (10, 0, 10)


def test_short_a_capture_crosses_the_low_balance_threshold_and_is_no_depletion(user_client, user):
    """A capture's balance falls by what it charged (the alert says so); what is available
    never falls with a capture, short or not, so depletion is the hold's or the refund's
    news, never the capture's."""
    services.alerts_set(user_id=user.pk, threshold=30)
    first, _ = refunded_under_holds(user, user_client, granted=70, bought=30, holds=[50, 50])
    depleted_before = Event.objects.filter(type="tokens.depleted").count()

    take(user_client, first, 50, "c1")

    alerts = Event.objects.filter(type="tokens.low_balance")
    assert [(e.data["balance"], e.data["threshold"]) for e in alerts] == [(20, 30)]
    assert Event.objects.filter(type="tokens.depleted").count() == depleted_before


@pytest.mark.parametrize(
    ("granted", "bought"),
    [(80, 0), (100, 0), (80, 20)],
    ids=["reserved-exactly", "more-than-reserved", "refund-leaves-enough"],
)
def test_not_short_a_capture_never_takes_what_another_hold_reserves(
    user_client, user, granted, bought
):
    """While the holds reserve no more than the balance, every capture within its hold is
    charged in full, in steps too, and the other holds keep what they reserve."""
    grant(user, granted)
    if bought:
        invoice = checkout(user, bundles=[TokenBundleFactory(token_amount=bought)]).invoice
        capture(invoice)
    small, large = hold(user_client, 30, "h1"), hold(user_client, 50, "h2")
    if bought:
        billing_services.invoice_refund(invoice_id=invoice.pk)

    step = user_client.post(
        f"{HOLDS}/{small}/capture", {"amount": 10, "final": False}, HTTP_IDEMPOTENCY_KEY="s1"
    )
    rest = take(user_client, small, 20, "s2")
    other = selectors.token_balance(user_id=user.pk)
    large_taken = take(user_client, large, 50, "l1")

    assert [r.json()["usage"]["charged"] for r in (step, rest, large_taken)] == [10, 20, 50]
    assert (other.balance, other.held) == (granted - 30, 50)
    assert selectors.token_balance(user_id=user.pk).balance == granted - 80
