"""The capture webhook as the contract has it: a body nested too deeply and a signature
whose timestamp is too long to read are 400s, and recorded."""

from decimal import Decimal

import pytest

from billing.models import Invoice, PaymentEvent
from billing.tests.helpers import checkout, deliver, payment_body
from catalog.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(user):
    return checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice


def test_a_signature_whose_timestamp_is_too_long_to_read_is_400_invalid_signature(
    api_client, invoice
):
    """Contract: "`t` more than 300 s from now, a bad or missing signature: 400
    `invalid_signature`, nothing changes"; "Every delivery is recorded (payload, outcome)
    whatever the outcome." A `t` of 5000 digits (a header well under 8 KiB) makes Python's
    int() refuse it with a ValueError the verification does not catch: 500, not recorded."""
    body = payment_body(invoice)

    response = deliver(api_client, body, header="t=" + "9" * 5000 + ",v1=00")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PENDING
    assert PaymentEvent.objects.filter(signature_valid=False).count() == 1


def test_a_signed_delivery_nested_too_deeply_is_a_400_and_is_recorded(api_client, invoice):
    """Contract: "Every delivery is recorded (payload, outcome) whatever the outcome", and
    errors are never a stack trace. A correctly signed body of 2.2 KB of nested brackets makes
    the parser raise RecursionError: 500, and nothing is recorded."""
    body = b"[" * 1100 + b"]" * 1100

    response = deliver(api_client, body)

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert PaymentEvent.objects.count() == 1
