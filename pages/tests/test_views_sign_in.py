import uuid

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_sign_up_creates_the_user_and_signs_in(client):
    response = client.post(
        reverse("pages:sign-up"), {"email": "New@Example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("pages:home")
    assert User.objects.get().email == "new@example.com"
    assert client.get(reverse("pages:purchase")).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"email": "taken@example.com", "password": PASSWORD}, "already exists"),
        ({"email": "x@example.com", "password": "123"}, "too short"),
        ({"email": "not-an-email", "password": PASSWORD}, "valid email"),
    ],
)
def test_sign_up_refusals_show_on_the_form_and_write_nothing(client, body, message):
    UserFactory(email="taken@example.com")
    before = database_state()

    response = client.post(reverse("pages:sign-up"), body)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert database_state() == before


@pytest.mark.parametrize("email", ["not-an-email", "taken@example.com"])
def test_sign_up_shows_a_bad_email_and_a_weak_password_at_once(client, email):
    UserFactory(email="taken@example.com")
    before = database_state()

    response = client.post(reverse("pages:sign-up"), {"email": email, "password": "123"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "valid email" in page or "already exists" in page
    assert "too short" in page
    assert database_state() == before


def test_sign_in_and_sign_out(client, user):
    signed_in = client.post(
        reverse("pages:sign-in"), {"username": user.email, "password": PASSWORD}
    )
    signed_out = client.post(reverse("pages:sign-out"))

    assert signed_in.status_code == 302
    assert signed_out.status_code == 302
    assert client.get(reverse("pages:purchase")).status_code == 302


def test_a_wrong_password_is_refused(client, user):
    response = client.post(reverse("pages:sign-in"), {"username": user.email, "password": "nope"})

    assert response.status_code == 200
    assert "correct email and password" in response.content.decode()


def test_sign_in_is_throttled(client, monkeypatch, time_machine):
    from rest_framework.throttling import SimpleRateThrottle

    # One fixed window: three posts that straddled a minute's edge would be two windows.
    # 29.5 s of it are left: waiting 29 would be refused again.
    time_machine.move_to("2026-03-01T10:00:30.5Z", tick=False)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "auth", "2/minute")
    for _ in range(2):
        client.post(reverse("pages:sign-in"), {"username": "a@b.co", "password": "x"})

    response = client.post(reverse("pages:sign-in"), {"username": "a@b.co", "password": "x"})

    assert (response.status_code, response["Retry-After"]) == (429, "30")


def test_receipts_are_throttled_per_user(client, user, bundles, monkeypatch, time_machine):
    """Each PDF receipt is drawn anew by WeasyPrint, and a signed-in customer could ask for
    one in a loop without any limit, holding the workers. Another customer is not refused."""
    from rest_framework.throttling import SimpleRateThrottle

    time_machine.move_to("2026-03-01T10:00:30.5Z", tick=False)
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "receipt", "2/minute")
    invoice = checkout(user, bundles=bundles[:1]).invoice
    capture(invoice)
    other = UserFactory()
    theirs = checkout(other, bundles=bundles[:1]).invoice
    capture(theirs, reference="pay-2")
    client.force_login(user)
    url = reverse("pages:receipt", args=[invoice.pk])
    # A HEAD draws nothing, so it is not counted (test_receipt_head).
    allowed = [
        client.get(url).status_code,
        client.head(url).status_code,
        client.get(url).status_code,
    ]

    refused = client.get(url)
    client.force_login(other)
    theirs_answer = client.get(reverse("pages:receipt", args=[theirs.pk]))

    assert allowed == [200, 200, 200]
    assert (refused.status_code, refused["Retry-After"]) == (429, "30")
    assert "30 seconds" in refused.content.decode()
    assert theirs_answer.status_code == 200
    assert theirs_answer.content.startswith(b"%PDF-")


@pytest.mark.parametrize("name", ["purchase", "transactions", "purchase-success"])
def test_pages_need_a_signed_in_user(client, name):
    response = client.get(reverse(f"pages:{name}"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("pages:sign-in"))


def test_polling_endpoints_answer_401_when_signed_out(client):
    assert client.get(reverse("pages:balance")).status_code == 401
    assert (
        client.get(reverse("pages:purchase-status"), {"invoice": uuid.uuid4()}).status_code == 401
    )


def test_the_usage_page_needs_sign_in(client):
    assert client.get(reverse("pages:usage")).status_code == 302
