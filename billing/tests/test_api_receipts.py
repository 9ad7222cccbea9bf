"""PDF receipts: `GET /user/invoices/{id}/pdf`, the staff twin, and `pdf_url` in the JSON."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.tests.factories import UserFactory
from billing import services
from billing.receipts import invoice_receipt
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle():
    return TokenBundleFactory(name="Standard", token_amount=100, price=Decimal("90.00"))


@pytest.fixture
def paid(user, bundle):
    invoice = checkout(user, bundles=[bundle, bundle]).invoice
    capture(invoice, reference="pay-receipt-7")
    return invoice


def test_receipts_are_throttled_per_user(user_client, paid, monkeypatch, time_machine):
    """Each receipt is drawn anew by WeasyPrint; THROTTLE_USER's 1200 a minute let one
    client hold the workers drawing the same PDF. THROTTLE_RECEIPTS counts them, as on the
    pages."""
    from rest_framework.throttling import SimpleRateThrottle

    time_machine.move_to("2026-03-01T10:00:30.5Z", tick=False)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "receipt", "2/minute")
    url = f"/api/v1/user/invoices/{paid.pk}/pdf"
    allowed = [user_client.get(url).status_code for _ in range(2)]

    refused = user_client.get(url)

    assert allowed == [200, 200]
    assert (refused.status_code, refused["Retry-After"]) == (429, "30")
    assert refused.json()["code"] == "throttled"


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_paid_invoice_has_a_pdf_receipt_with_seller_lines_totals_and_payment(
    user_client, user, paid, settings
):
    settings.SELLER_NAME = "Acme Tokens Ltd"
    settings.SELLER_ADDRESS = "1 Market Street, Springfield"
    settings.SELLER_TAX_ID = "GB123456789"

    response = user_client.get(f"/api/v1/user/invoices/{paid.pk}/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="receipt-{paid.number}.pdf"'
    text = text_of(response.content)
    for expected in [
        "Acme Tokens Ltd",
        "1 Market Street, Springfield",
        "GB123456789",
        paid.number,
        user.email,
        "Standard (100 tokens)",
        "$90.00",
        "$180.00",
        "Total paid (USD)",
        "pay-receipt-7",
        "Paid",
    ]:
        assert expected in text, expected


def test_the_invoice_json_links_its_receipt_once_paid(user_client, user, bundle, paid):
    pending = checkout(user, bundles=[bundle]).invoice

    items = {item["id"]: item for item in user_client.get("/api/v1/user/invoices").json()["items"]}
    one = user_client.get(f"/api/v1/user/invoices/{paid.pk}").json()

    assert items[str(paid.pk)]["pdf_url"] == f"/api/v1/user/invoices/{paid.pk}/pdf"
    assert items[str(pending.pk)]["pdf_url"] is None
    assert one["pdf_url"] == f"/api/v1/user/invoices/{paid.pk}/pdf"


def test_a_refunded_invoice_keeps_its_receipt_which_says_refunded(user_client, paid):
    services.invoice_refund(invoice_id=paid.pk)

    body = user_client.get(f"/api/v1/user/invoices/{paid.pk}").json()
    response = user_client.get(body["pdf_url"])

    assert response.status_code == 200
    assert "Refunded" in text_of(response.content)


def test_a_pending_or_cancelled_invoice_has_no_receipt(user_client, user, bundle):
    pending = checkout(user, bundles=[bundle]).invoice
    cancelled = checkout(user, bundles=[bundle]).invoice
    services.invoice_cancel(invoice_id=cancelled.pk)
    before = database_state()

    answers = [user_client.get(f"/api/v1/user/invoices/{i.pk}/pdf") for i in (pending, cancelled)]

    assert [a.status_code for a in answers] == [409, 409]
    assert answers[0].json() == {
        "error": f"Invoice {pending.number} is pending: a receipt exists once it is paid.",
        "code": "invalid_state",
    }
    assert database_state() == before


def test_another_users_receipt_is_404(paid):
    stranger = client_for(UserFactory())
    before = database_state()

    response = stranger.get(f"/api/v1/user/invoices/{paid.pk}/pdf")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert database_state() == before


def test_errors_are_json_even_when_a_pdf_was_asked_for(user_client, user, bundle):
    pending = checkout(user, bundles=[bundle]).invoice

    response = user_client.get(
        f"/api/v1/user/invoices/{pending.pk}/pdf", HTTP_ACCEPT="application/pdf"
    )

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid_state"


@pytest.mark.parametrize("accept", ["application/pdf", "application/json", "*/*"])
def test_the_pdf_is_served_for_the_accept_headers_a_client_sends(user_client, paid, accept):
    response = user_client.get(f"/api/v1/user/invoices/{paid.pk}/pdf", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")


def test_signed_out_is_401(client, paid):
    assert client.get(f"/api/v1/user/invoices/{paid.pk}/pdf").status_code == 401


def test_staff_get_any_receipt_and_their_invoice_json_links_it(staff_client, paid, user_client):
    staff_list = staff_client.get("/api/v1/admin/invoices").json()["items"]
    response = staff_client.get(staff_list[0]["pdf_url"])

    assert staff_list[0]["pdf_url"] == f"/api/v1/admin/invoices/{paid.pk}/pdf"
    assert response.status_code == 200
    assert user_client.get(f"/api/v1/admin/invoices/{paid.pk}/pdf").status_code == 403


def test_the_receipt_loads_nothing_from_outside(user, bundle, settings):
    settings.SELLER_NAME = '<img src="http://127.0.0.1:9/x.png">Acme'
    invoice = checkout(user, bundles=[bundle]).invoice
    capture(invoice)

    receipt = invoice_receipt(invoice_id=invoice.pk, user_id=user.pk)

    assert '<img src="http://127.0.0.1:9/x.png">Acme' in text_of(receipt.pdf)


@pytest.fixture
def drawings(monkeypatch):
    """The receipts WeasyPrint draws, counted (each drawn for real)."""
    from billing import receipts

    drawn = []
    draw = receipts.receipt_pdf

    def counted(invoice):
        drawn.append(invoice.pk)
        return draw(invoice)

    monkeypatch.setattr(receipts, "receipt_pdf", counted)
    return drawn


UNCOMPARED = {"Date", "X-Request-ID", "Content-Length"}


@pytest.mark.parametrize("who", ["user", "staff"])
def test_head_of_a_receipt_answers_gets_headers_without_drawing_it(
    user_client, staff_client, paid, drawings, who
):
    """HEAD was answered by `get`: the whole PDF drawn (a tenth of a second of CPU or more)
    and thrown away. It sends no Content-Length, known only once drawn, rather than a wrong 0."""
    client, url = {
        "user": (user_client, f"/api/v1/user/invoices/{paid.pk}/pdf"),
        "staff": (staff_client, f"/api/v1/admin/invoices/{paid.pk}/pdf"),
    }[who]

    head = client.head(url)
    drawn_by_head = list(drawings)
    get = client.get(url)

    assert head.status_code == get.status_code == 200
    assert drawn_by_head == []
    assert drawings == [paid.pk]
    assert {k: v for k, v in head.headers.items() if k not in UNCOMPARED} == {
        k: v for k, v in get.headers.items() if k not in UNCOMPARED
    }
    assert head["Content-Type"] == "application/pdf"
    assert head["Content-Disposition"] == f'inline; filename="receipt-{paid.number}.pdf"'
    assert "Content-Length" not in head


def test_head_refuses_what_get_refuses_and_draws_nothing(user, user_client, bundle, paid, drawings):
    pending = checkout(user, bundles=[bundle]).invoice
    stranger = client_for(UserFactory())
    before = database_state()

    statuses = [
        user_client.head(f"/api/v1/user/invoices/{pending.pk}/pdf").status_code,
        stranger.head(f"/api/v1/user/invoices/{paid.pk}/pdf").status_code,
    ]

    assert statuses == [409, 404]
    assert drawings == []
    assert database_state() == before


def test_head_is_not_counted_among_the_receipts_drawn(
    user_client, paid, drawings, monkeypatch, time_machine
):
    from rest_framework.throttling import SimpleRateThrottle

    time_machine.move_to("2026-03-01T10:00:30.5Z", tick=False)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "receipt", "1/minute")
    url = f"/api/v1/user/invoices/{paid.pk}/pdf"

    heads = [user_client.head(url).status_code for _ in range(3)]
    gets = [user_client.get(url).status_code for _ in range(2)]

    assert (heads, gets) == ([200, 200, 200], [200, 429])
