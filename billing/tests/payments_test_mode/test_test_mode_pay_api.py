"""The `test` payment provider: the pay API, its checkout page, Pay and Decline, refusals."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks

from accounts.tests.factories import UserFactory
from billing.tests.helpers import capture, checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def test_pay_with_the_test_provider_answers_the_page_of_this_server(
    payments_on, user_client, invoice
):
    before = database_state()

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert response.status_code == 200
    assert response.json() == {
        "provider": "test",
        "checkout_url": f"http://testserver/test-checkout/{invoice.pk}",
    }
    assert database_state() == before


def test_with_test_mode_off_the_test_provider_is_400_naming_it(user_client, invoice):
    before = database_state()

    response = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["fields"] == {
        "provider": ["Test payments are off on this server (PAYMENTS_TEST_MODE)."]
    }
    assert database_state() == before


def test_the_test_provider_refuses_another_users_or_a_paid_invoice(
    payments_on, user_client, invoice
):
    theirs = checkout(UserFactory(), bundles=[TokenBundleFactory()]).invoice
    capture(invoice)
    before = database_state()

    other = user_client.post(f"/api/v1/user/invoices/{theirs.pk}/pay", {"provider": "test"})
    paid = user_client.post(f"/api/v1/user/invoices/{invoice.pk}/pay", {"provider": "test"})

    assert other.status_code == 404
    assert (paid.status_code, paid.json()["code"]) == (409, "invalid_state")
    assert database_state() == before


def test_check_deploy_warns_while_test_payments_are_on(settings):
    settings.PAYMENTS_TEST_MODE = False
    quiet = [message.id for message in run_checks(include_deployment_checks=True)]
    settings.PAYMENTS_TEST_MODE = True

    warned = [message.id for message in run_checks(include_deployment_checks=True)]

    assert "billing.W001" not in quiet
    assert "billing.W001" in warned
