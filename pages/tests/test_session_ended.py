"""A form sent after the session ended: the customer signs in again and lands on the page the
form was on, with nothing done, never on a bare 405."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import PASSWORD, UserFactory
from billing.tests.helpers import checkout
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def test_mode(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_TEST_MODE = True


def _actions(invoice_id) -> list[tuple[str, str, dict]]:
    """(the form's address, the page it is on, what the form sends)."""
    invoice_page = reverse("pages:invoice", args=[invoice_id])
    account_page = reverse("pages:account")
    return [
        (reverse("pages:invoice-pay", args=[invoice_id]), invoice_page, {}),
        (reverse("pages:invoice-cancel", args=[invoice_id]), invoice_page, {}),
        (
            reverse("pages:account-password"),
            account_page,
            {"old_password": PASSWORD, "new_password1": "x-new-long-pass-2026"},
        ),
        (reverse("pages:account-alerts"), account_page, {"when": "never"}),
    ]


@pytest.mark.parametrize("index", range(4))
def test_signing_in_again_after_a_form_sent_signed_out_lands_on_its_page(
    client, user, bundles, test_mode, index
):
    invoice = checkout(user, bundles=bundles[:1]).invoice
    action, page, form = _actions(invoice.pk)[index]
    before = database_state()

    sent = client.post(action, {**form, "new_password2": form.get("new_password1", "")})
    assert sent.status_code == 302
    signed_in = client.post(sent["Location"], {"username": user.email, "password": PASSWORD})
    assert signed_in["Location"] == action
    landed = client.get(action, follow=True)

    assert (landed.status_code, landed.redirect_chain) == (200, [(page, 302)])
    assert client.head(action).status_code == 302
    changes = {
        label
        for label, rows in database_state().items()
        if rows != before[label] and label != "accounts.User"
    }
    assert changes == set()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_another_users_invoice_action_lands_on_its_404(client, user, bundles, test_mode):
    other = checkout(UserFactory(), bundles=bundles[:1]).invoice
    client.force_login(user)

    response = client.get(reverse("pages:invoice-pay", args=[other.pk]), follow=True)

    assert response.status_code == 404


def test_other_methods_are_still_refused(client, user, bundles):
    client.force_login(user)
    invoice = checkout(user, bundles=bundles[:1]).invoice

    response = client.put(reverse("pages:invoice-cancel", args=[invoice.pk]))

    assert response.status_code == 405
    invoice.refresh_from_db()
    assert invoice.status == "pending"
