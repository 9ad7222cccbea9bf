import pytest
import time_machine

from billing.models import Subscription
from billing.tests.helpers import capture, checkout
from billing.tests.pay.helpers import pay
from catalog.tests.factories import AddOnFactory, PlanFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def add_ons_of_an_ended_plan(user):
    """A checkout of add-ons bought alone, and the instant its plan ended (not swept yet)."""
    plan = checkout(user, plan=PlanFactory()).invoice
    capture(plan, reference="plan")
    add_ons = checkout(user, add_ons=[AddOnFactory()]).invoice
    return add_ons, Subscription.objects.get(invoice=plan).expires_at


@pytest.mark.parametrize("provider", ["stripe", "test"])
def test_paying_add_ons_whose_plan_has_ended_is_409_and_asks_nothing_of_stripe(
    user_client, add_ons_of_an_ended_plan, fake_stripe, settings, provider
):
    """The capture of such a payment is refused (needs_review, refunded by hand): the
    customer is not sent to pay it."""
    settings.PAYMENTS_TEST_MODE = True
    invoice, ended = add_ons_of_an_ended_plan

    before = database_state()

    with time_machine.travel(ended, tick=False):
        response = pay(user_client, invoice, {"provider": provider})

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert database_state() == before
    assert fake_stripe.requests == []


def test_a_session_made_before_the_plan_ended_is_not_handed_out_after(
    user_client, add_ons_of_an_ended_plan, fake_stripe
):
    invoice, ended = add_ons_of_an_ended_plan
    assert pay(user_client, invoice).status_code == 200

    with time_machine.travel(ended, tick=False):
        response = pay(user_client, invoice)

    assert (response.status_code, response.json().get("code")) == (409, "invalid_state")
    assert len(fake_stripe.requests) == 1


def test_the_invoice_page_does_not_send_to_pay_add_ons_whose_plan_has_ended(
    client, user, add_ons_of_an_ended_plan, fake_stripe
):
    invoice, ended = add_ons_of_an_ended_plan

    with time_machine.travel(ended, tick=False):
        client.force_login(user)
        response = client.post(f"/invoices/{invoice.pk}/pay")

    assert response.status_code == 409
    assert "has ended" in response.content.decode()
    assert fake_stripe.requests == []
