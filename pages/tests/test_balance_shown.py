"""What the home page says is available when active holds reserve more than is left: lots
expired under them, so the API's `available` (balance less active holds) is below 0."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from tokens.services import hold_create, lot_grant

pytestmark = pytest.mark.django_db

START = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_holds_beyond_the_balance_show_nothing_available_and_how_far_short(client, user):
    """A lot of 10 expiring under a hold of 8: the page said "Available now -8" tokens. It
    says 0, and that the holds reserve 8 more than the user has (their captures are charged
    what is left). The API still answers `available: -8`, as its contract defines it."""
    client.force_login(user)
    with time_machine.travel(START, tick=False) as clock:
        lot_grant(
            user_id=user.pk,
            amount=10,
            category="promotional",
            reason="trial week",
            actor_id=None,
            expires_at=START + timedelta(hours=1),
        )
        hold_create(user_id=user.pk, amount=8, ttl_seconds=7200, idempotency_key="job")
        clock.move_to(START + timedelta(hours=1, seconds=1))
        page = client.get(reverse("pages:home")).content.decode()

    assert '<span class="value" id="home-available">0</span>' in page
    assert "8 held for work in progress, 8 more than you have" in page


def test_holds_the_balance_covers_show_what_is_left(client, user):
    client.force_login(user)
    lot_grant(
        user_id=user.pk, amount=10, category="promotional", reason="trial week", actor_id=None
    )
    hold_create(user_id=user.pk, amount=8, idempotency_key="job")

    page = client.get(reverse("pages:home")).content.decode()

    assert '<span class="value" id="home-available">2</span>' in page
    assert "8 held for work in progress</span>" in page


def test_when_tokens_expire_is_said_with_its_hour_and_zone(client, user):
    """Tokens go at a minute in UTC, and the pages said only the day ("12 Dec 2026"): a
    customer west of UTC lost them the evening before the day shown, in their own time."""
    expires_at = START + timedelta(days=5, hours=15, minutes=30)
    client.force_login(user)

    with time_machine.travel(START, tick=False):
        lot_grant(
            user_id=user.pk,
            amount=7,
            category="promotional",
            expires_at=expires_at,
            priority=50,
            reason="test grant",
            actor_id=None,
        )
        pages = [
            client.get(reverse(name)).content.decode() for name in ("pages:home", "pages:account")
        ]

    shown = [re.findall(r"<time [^>]*>([^<]*)</time>", page) for page in pages]
    assert shown == [["6 Jul 2026, 23:30 UTC"] * 2] * 2


@pytest.mark.parametrize(("name", "budget"), [("pages:home", 9), ("pages:account", 8)])
def test_the_page_and_its_header_read_the_balance_once(
    client, user, django_assert_max_num_queries, name, budget
):
    """The header's widget and the page's figures read the balance each on their own: two
    reads per page, and a payment landing between them drew one balance in the header and
    another beside it."""
    client.force_login(user)
    lot_grant(user_id=user.pk, amount=10, category="promotional", reason="trial", actor_id=None)
    client.get(reverse(name))  # The session and the user's rows warmed up.

    with django_assert_max_num_queries(budget) as captured:
        page = client.get(reverse(name))

    reads = [query for query in captured.captured_queries if "tokens_tokenlot l" in query["sql"]]
    assert len(reads) == 1
    assert page.status_code == 200


def test_the_receipt_and_its_header_read_the_balance_once(
    client, user, django_assert_max_num_queries
):
    """The receipt said "Your balance is 60 tokens" from one read and the header from
    another: a use between them drew two balances on one page."""
    client.force_login(user)
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice
    capture(invoice)
    url = f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
    client.get(url)  # The session and the user's rows warmed up.

    with django_assert_max_num_queries(8) as captured:
        page = client.get(url)

    reads = [query for query in captured.captured_queries if "tokens_tokenlot l" in query["sql"]]
    assert len(reads) == 1
    assert page.status_code == 200
