"""HEAD of the page's and the admin's PDF receipt drew the whole PDF in WeasyPrint and threw
it away (Django answers HEAD with the GET view), and a HEAD of the page's counted against
THROTTLE_RECEIPTS. They answer GET's headers now, after the same checks, drawing nothing, as
the API's receipts do."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db

COMPARED = ("Content-Type", "Content-Disposition")


@pytest.fixture
def drawings(monkeypatch) -> list:
    """The receipts WeasyPrint draws, counted (each drawn for real)."""
    from billing import receipts

    drawn = []
    draw = receipts.receipt_pdf
    monkeypatch.setattr(receipts, "receipt_pdf", lambda invoice: drawn.append(1) or draw(invoice))
    return drawn


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("where", ["page", "admin"])
def test_head_answers_gets_headers_without_drawing_the_receipt(
    user, staff_user, bundles, drawings, where
):
    paid = checkout(user, bundles=bundles[:1]).invoice
    capture(paid, reference="pay-head-1")
    staff_user.is_superuser = True
    staff_user.save()
    client, url = {
        "page": (signed_in(user), reverse("pages:receipt", args=[paid.pk])),
        "admin": (signed_in(staff_user), reverse("admin:billing_invoice_receipt", args=[paid.pk])),
    }[where]

    head = client.head(url)
    drawn_by_head = len(drawings)
    get = client.get(url)

    assert (head.status_code, get.status_code) == (200, 200)
    assert drawn_by_head == 0
    assert [head[name] for name in COMPARED] == [get[name] for name in COMPARED]
    assert "Content-Length" not in head


def test_head_refuses_what_get_refuses_and_is_not_counted(
    user, bundles, drawings, monkeypatch, time_machine
):
    from rest_framework.throttling import SimpleRateThrottle

    time_machine.move_to("2026-03-01T10:00:30.5Z", tick=False)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "receipt", "1/minute")
    paid = checkout(user, bundles=bundles[:1], key="head-paid").invoice
    capture(paid, reference="pay-head-2")
    pending = checkout(user, bundles=bundles[:1], key="head-pending").invoice
    client, stranger = signed_in(user), signed_in(UserFactory())
    before = database_state()

    refused = [
        client.head(reverse("pages:receipt", args=[pending.pk])).status_code,
        stranger.head(reverse("pages:receipt", args=[paid.pk])).status_code,
    ]
    after_refused = database_state()
    heads = [client.head(reverse("pages:receipt", args=[paid.pk])).status_code for _ in range(3)]
    gets = [client.get(reverse("pages:receipt", args=[paid.pk])).status_code for _ in range(2)]

    assert refused == [404, 404]
    assert after_refused == before
    assert (heads, gets) == ([200, 200, 200], [200, 429])
    assert len(drawings) == 1
