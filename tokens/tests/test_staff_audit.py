"""Who granted, adjusted or voided tokens, or refunded usage, through the admin's forms or the
staff API: the ledger entry names them (`created_by`), on the entry's admin page too, so
token movements need no History record of their own (common.audit)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tokens import services
from tokens.models import TokenAccount, TokenTransaction
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

Type = TokenTransaction.Type


@pytest.fixture
def account(user) -> TokenAccount:
    fund(user, 40)
    return TokenAccount.objects.get(user=user)


def latest(account: TokenAccount, kind: str) -> TokenTransaction:
    return account.entries.filter(transaction_type=kind).latest("number")


def test_the_admins_forms_name_the_staff_member(staff_browser, staff_user, account):
    admin_url = "admin:tokens_tokenaccount_{}"
    staff_browser.post(
        reverse(admin_url.format("grant"), args=[account.pk]),
        {
            "amount": "5",
            "reason": "Goodwill",
            "category": "promotional",
            "priority": "50",
            "submission": str(uuid.uuid4()),
        },
    )
    staff_browser.post(
        reverse(admin_url.format("adjust"), args=[account.pk]),
        {"amount": "-3", "reason": "Chargeback", "submission": str(uuid.uuid4())},
    )
    lot = account.lots.get(amount=5)
    staff_browser.post(reverse("admin:tokens_tokenlot_void", args=[lot.pk]), {"reason": "Fraud"})

    assert [latest(account, kind).created_by for kind in (Type.GRANT, Type.ADJUSTMENT)] == [
        staff_user,
        staff_user,
    ]
    assert latest(account, Type.VOID).created_by == staff_user


def test_the_staff_api_names_the_staff_member(staff_client, staff_user, user, account):
    grant = staff_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/grants",
        {"amount": 5, "reason": "Goodwill"},
        format="json",
    )
    staff_client.post(
        f"/api/v1/admin/users/{user.pk}/tokens/adjust",
        {"amount": -3, "reason": "Chargeback"},
        format="json",
    )
    staff_client.post(f"/api/v1/admin/lots/{grant.json()['id']}/void", {"reason": "Fraud"})
    usage = services.tokens_debit(user_id=user.pk, amount=2)
    staff_client.post(f"/api/v1/admin/token-transactions/{usage.pk}/refund")

    kinds = (Type.GRANT, Type.ADJUSTMENT, Type.VOID, Type.REFUND)
    assert [latest(account, kind).created_by for kind in kinds] == [staff_user] * 4


def test_the_entry_page_shows_who_made_it(staff_browser, staff_user, account):
    staff_browser.post(
        reverse("admin:tokens_tokenaccount_adjust", args=[account.pk]),
        {"amount": "7", "reason": "Goodwill", "submission": str(uuid.uuid4())},
    )
    entry = latest(account, Type.ADJUSTMENT)

    page = staff_browser.get(reverse("admin:tokens_tokentransaction_change", args=[entry.pk]))

    assert page.status_code == 200
    assert staff_user.email in page.content.decode()
