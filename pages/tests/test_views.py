import csv
import io
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from billing.models import Invoice
from billing.tests.helpers import capture, checkout
from common.tests.helpers import database_state
from conftest import client_for
from tokens import services as token_services
from tokens.ledger import Work
from tokens.services import usage_record
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def buy(client, bundles, submission=None):
    return client.post(
        reverse("pages:purchase"),
        {"bundles": [str(b.pk) for b in bundles], "submission": str(submission or uuid.uuid4())},
    )


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
    allowed = [client.get(url).status_code, client.head(url).status_code]

    refused = client.get(url)
    client.force_login(other)
    theirs_answer = client.get(reverse("pages:receipt", args=[theirs.pk]))

    assert allowed == [200, 200]
    assert (refused.status_code, refused["Retry-After"]) == (429, "30")
    assert "30 seconds" in refused.content.decode()
    assert theirs_answer.status_code == 200
    assert theirs_answer.content.startswith(b"%PDF-")


@pytest.mark.parametrize("name", ["purchase", "transactions", "purchase-success"])
def test_pages_need_a_signed_in_user(client, name):
    response = client.get(reverse(f"pages:{name}"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("pages:sign-in"))


def test_purchase_page_shows_cards_with_savings_and_one_best_value(browser, user, bundles):
    fund(user, 42)

    page = browser.get(reverse("pages:purchase")).content.decode()

    assert page.index("Taster") < page.index("Starter") < page.index("Team")
    assert page.count("Best value") == 1
    assert "Save 10%" in page
    assert "Save 99%" in page
    assert "$1.0000 per token" in page
    assert "You have <strong>42</strong> tokens" in page


def test_an_empty_selection_is_refused_and_writes_nothing(browser, bundles):
    before = database_state()

    response = buy(browser, [])

    assert response.status_code == 400
    assert "Choose at least one bundle, plan or add-on." in response.content.decode()
    assert database_state() == before


def test_an_unknown_bundle_is_refused(browser, bundles):
    before = database_state()

    response = browser.post(
        reverse("pages:purchase"), {"bundles": [str(uuid.uuid4())], "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 400
    assert database_state() == before


def test_buying_goes_to_stripe_checkout(browser, user, bundles, fake_stripe):
    response = buy(browser, bundles[:2])

    invoice = Invoice.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == fake_stripe.sessions[invoice.stripe_session_id]["url"]
    assert invoice.total == Decimal("55.00")


def test_without_stripe_buying_goes_to_the_test_payment_page_when_test_mode_is_on(
    browser, user, bundles, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True

    page = browser.get(reverse("pages:purchase")).content.decode()
    response = buy(browser, bundles[:2])

    invoice = Invoice.objects.get(user=user)
    assert "this server's test payment page (no money moves)" in page
    assert response.status_code == 302
    assert response["Location"] == f"/test-checkout/{invoice.pk}"
    assert invoice.status == "pending"


def test_stripe_wins_over_test_mode_when_it_is_configured(
    browser, user, bundles, fake_stripe, settings
):
    settings.PAYMENTS_TEST_MODE = True

    fake_stripe_url = buy(browser, bundles[:1])["Location"]

    invoice = Invoice.objects.get(user=user)
    assert fake_stripe_url == fake_stripe.sessions[invoice.stripe_session_id]["url"]


def test_with_no_payment_provider_buying_says_so_to_the_customer_and_orders_nothing(
    browser, user, bundles, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = False
    page = browser.get(reverse("pages:purchase")).content.decode()
    before = database_state()

    response = buy(browser, bundles[:1])

    assert "Buying is paused: payments are not" in page
    assert 'id="buy" disabled aria-describedby="payments-unavailable"' in page
    assert response.status_code == 200
    assert (
        "Payments are not available right now, so nothing was ordered and nothing was charged."
        in response.content.decode()
    )
    assert "STRIPE" not in response.content.decode()
    assert database_state() == before


def test_a_double_click_makes_one_checkout(browser, user, bundles, fake_stripe):
    submission = uuid.uuid4()

    first = buy(browser, bundles[:2], submission)
    second = buy(browser, bundles[:2], submission)

    assert first["Location"] == second["Location"]
    assert Invoice.objects.filter(user=user).count() == 1
    assert len(fake_stripe.sessions) == 1


def test_the_back_button_after_paying_leads_to_the_receipt(browser, user, bundles, fake_stripe):
    submission = uuid.uuid4()
    buy(browser, bundles[:1], submission)
    capture(Invoice.objects.get(user=user))

    again = buy(browser, bundles[:1], submission)

    invoice = Invoice.objects.get(user=user)
    assert again["Location"] == f"{reverse('pages:purchase-success')}?invoice={invoice.pk}"
    assert Invoice.objects.filter(user=user).count() == 1


def test_stripe_down_shows_a_message_and_keeps_the_page(browser, user, bundles, fake_stripe):
    fake_stripe.fail_next(1)

    response = buy(browser, bundles[:1])

    assert response.status_code == 200
    assert "could not be reached" in response.content.decode()


def test_a_forged_or_missing_csrf_token_is_403_and_writes_nothing(user, bundles, fake_stripe):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("pages:purchase"))
    before = database_state()

    missing = buy(client, bundles[:1])
    forged = client.post(
        reverse("pages:purchase"),
        {
            "bundles": [str(bundles[0].pk)],
            "submission": str(uuid.uuid4()),
            "csrfmiddlewaretoken": "x" * 64,
        },
    )

    assert missing.status_code == forged.status_code == 403
    assert "nothing was done" in missing.content.decode()
    assert database_state() == before


def test_the_receipt_shows_the_credited_tokens(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[1:]).invoice
    capture(invoice)

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()

    assert invoice.number in page
    assert '<strong id="tokens-credited">1050</strong>' in page


def test_the_receipt_waits_for_a_pending_payment(browser, user, bundles):
    invoice = checkout(user, bundles=bundles[:1]).invoice

    page = browser.get(reverse("pages:purchase-success"), {"invoice": invoice.pk}).content.decode()
    pending = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()
    capture(invoice)
    settled = browser.get(reverse("pages:purchase-status"), {"invoice": invoice.pk}).json()

    assert "Waiting for the payment" in page
    assert pending == {
        "status": "pending",
        "settled": False,
        "tokens_credited": 0,
        "balance": 0,
        "plan_name": None,
        "plan_starts_at": None,
    }
    assert settled == {
        "status": "paid",
        "settled": True,
        "tokens_credited": 10,
        "balance": 10,
        "plan_name": None,
        "plan_starts_at": None,
    }


@pytest.mark.parametrize("name", ["purchase-success", "purchase-status"])
def test_another_users_invoice_is_404(browser, bundles, name):
    theirs = checkout(UserFactory(), bundles=bundles[:1]).invoice

    for value in [theirs.pk, "not-a-uuid", ""]:
        assert browser.get(reverse(f"pages:{name}"), {"invoice": value}).status_code == 404


def test_polling_endpoints_answer_401_when_signed_out(client):
    assert client.get(reverse("pages:balance")).status_code == 401
    assert (
        client.get(reverse("pages:purchase-status"), {"invoice": uuid.uuid4()}).status_code == 401
    )


def test_cancel_page_says_nothing_was_charged(browser):
    page = browser.get(reverse("pages:purchase-cancel")).content.decode()

    assert "Nothing was charged" in page
    assert reverse("pages:purchase") in page


@pytest.fixture
def ledger(user):
    fund(user, 500)
    for amount in range(1, 61):
        token_services.tokens_debit(
            user_id=user.pk, amount=amount % 7 + 1, description=f"job {amount}"
        )
    stranger = UserFactory()
    fund(stranger, 99)
    token_services.tokens_debit(user_id=stranger.pk, amount=1, description="stranger job")


def test_transactions_are_newest_first_50_a_page(browser, ledger):
    first = browser.get(reverse("pages:transactions"))
    second = browser.get(reverse("pages:transactions"), {"page": 2})

    assert len(first.context["page"].object_list) == 50
    assert [e.description for e in second.context["page"].object_list][-1] == "test funds"
    assert "job 60" in first.content.decode()
    assert "stranger job" not in first.content.decode() + second.content.decode()


def test_transactions_filter_by_type_and_date(browser, ledger):
    usage = browser.get(reverse("pages:transactions"), {"type": "usage"})
    future = browser.get(reverse("pages:transactions"), {"date_from": "2999-01-01"})

    assert usage.context["page"].paginator.count == 60
    assert future.context["page"].paginator.count == 0


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "yesterday"},
        {"type": "gift"},
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
    ],
)
def test_bad_filters_are_400(browser, params):
    assert browser.get(reverse("pages:transactions"), params).status_code == 400


def test_a_page_past_the_end_is_404(browser, ledger):
    assert browser.get(reverse("pages:transactions"), {"page": 99}).status_code == 404


def test_csv_export_has_the_filtered_rows_and_only_mine(browser, ledger):
    response = browser.get(reverse("pages:transactions"), {"type": "adjustment", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Disposition"] == 'attachment; filename="token-transactions.csv"'
    assert [(row["transaction_type"], row["amount"]) for row in rows] == [("adjustment", "500")]


def test_the_balance_endpoint(browser, user):
    fund(user, 7)

    assert browser.get(reverse("pages:balance")).json() == {"balance": 7, "expiring_next": None}


def test_the_balance_endpoint_writes_the_next_expiry_as_the_api_does(browser, user):
    lot = grant(user, 5, expires_at=timezone.now() + timedelta(days=3))
    api = client_for(user).get("/api/v1/user/tokens/balance").json()

    polled = browser.get(reverse("pages:balance")).json()

    assert polled["expiring_next"] == {
        "amount": 5,
        "expires_at": lot.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert polled["expiring_next"]["expires_at"] == api["expiring"][0]["expires_at"]


def test_the_billing_overview_shows_figures_and_problems(staff_browser, user, bundles):
    paid = checkout(user, bundles=bundles[2:]).invoice
    capture(paid)
    stale = checkout(user, bundles=bundles[:1]).invoice
    Invoice.objects.filter(pk=stale.pk).update(created_at=paid.created_at.replace(year=2025))

    response = staff_browser.get(reverse("billing-overview"))

    assert response.status_code == 200
    chart = response.context["chart"]
    assert len(chart["days"]) == len(chart["revenue"]) == len(chart["tokens"]) == 30
    assert chart["revenue"][-1] == "5.00"
    assert chart["tokens"][-1] == 1000
    assert stale.number in response.content.decode()
    assert reverse("billing-overview") in staff_browser.get(reverse("admin:index")).content.decode()


def test_the_billing_overview_is_staff_only(client, browser):
    assert client.get(reverse("billing-overview")).status_code == 302
    assert browser.get(reverse("billing-overview")).status_code == 302


def test_the_usage_page_shows_usage_by_day_and_feature_with_its_source(browser, user):
    fund(user, 20)
    usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    usage_record(user_id=user.pk, work=Work(amount=2, feature="design", usage_key="b"))

    response = browser.get(reverse("pages:usage"))

    page = response.content.decode()
    assert response.status_code == 200
    days = response.context["days"]
    assert [(d.feature, d.uses, d.amount, d.charged, d.covered) for d in days] == [
        ("design", 2, 5, 5, 0)
    ]
    assert page.count('data-label="Paid by">Tokens<') == 2


def usage_by_day_cells(page: str) -> list[dict[str, str]]:
    """The usage page's by-day table as it reads: each row's cells by their label."""
    table = page.split('id="usage-by-day"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [dict(re.findall(r'data-label="([^"]+)">([^<]*)<', row)) for row in rows]


def test_the_usage_page_charges_a_day_net_of_what_was_refunded_since(browser, user):
    """Work given back is not charged: the day's charge leaves the refunded use out and the
    page says what was refunded."""
    fund(user, 20)
    refunded = usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    usage_record(user_id=user.pk, work=Work(amount=2, feature="design", usage_key="b"))
    token_services.usage_record_refund(user_id=user.pk, usage_id=refunded.usage.pk, actor_id=None)

    page = browser.get(reverse("pages:usage")).content.decode()

    cells = usage_by_day_cells(page)
    assert [(c["Uses"], c["Tokens used"], c["Tokens charged"]) for c in cells] == [("2", "5", "2")]
    assert cells[0]["Tokens refunded"] == "3"


def test_the_usage_page_names_the_zone_of_every_time_it_shows(browser, user):
    fund(user, 20)
    used = usage_record(user_id=user.pk, work=Work(amount=3, feature="design", usage_key="a"))
    token_services.usage_record_refund(user_id=user.pk, usage_id=used.usage.pk, actor_id=None)

    page = browser.get(reverse("pages:usage")).content.decode()

    table = page.split('id="recent-usage"', 1)[1].split("</table>", 1)[0]
    timed = re.findall(r'data-label="([^"]+)">\d{4}-\d{2}-\d{2} \d{2}:\d{2}<', table)
    assert timed == ["When (UTC)", "Refunded (UTC)"]


def test_the_usage_page_needs_sign_in(client):
    assert client.get(reverse("pages:usage")).status_code == 302
