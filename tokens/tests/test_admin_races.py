"""The admin's pages of accounts and lots beside the ledger's writes, on PostgreSQL with real
threads, each with its own connection."""

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from common.tests.concurrency import meeting
from tokens import services
from tokens.models import TokenAccount, TokenLot, TokenTransaction
from tokens.selectors import ledger_check
from tokens.tests.factories import grant

pytestmark = pytest.mark.django_db(transaction=True)


def test_saving_a_lot_page_while_a_debit_burns_the_lot_gives_nothing_back(staff_browser):
    """The lot's page showed only read-only fields, but its Save wrote every column of the lot
    as the request had read it: a debit committing in between had its tokens put back in the
    lot, with no entry to explain them. Now the page is view-only and a Save is refused."""
    user = UserFactory()
    lot = grant(user, 100)
    url = reverse("admin:tokens_tokenlot_change", args=[lot.pk])

    answers = meeting(
        lambda: services.tokens_debit(user_id=user.pk, amount=30),
        lambda: staff_browser.post(url, {"_save": "Save"}),
    )

    assert answers["held"].amount == -30
    assert TokenLot.objects.get(pk=lot.pk).remaining == 70
    assert TokenAccount.objects.get(user=user).balance == 70
    assert answers["waiting"].status_code == 403
    assert list(ledger_check()) == []


def test_saving_an_account_page_while_a_debit_commits_keeps_the_debit(staff_browser):
    """The account's Save wrote its balance, totals and what its holds reserve as the request
    had read them, over a debit committed in between: the debit's tokens came back."""
    user = UserFactory()
    grant(user, 100)
    account = TokenAccount.objects.get(user=user)
    url = reverse("admin:tokens_tokenaccount_change", args=[account.pk])
    form = {
        "_save": "Save",
        "lots-TOTAL_FORMS": "1",
        "lots-INITIAL_FORMS": "1",
        "lots-MIN_NUM_FORMS": "0",
        "lots-MAX_NUM_FORMS": "1000",
        "lots-0-id": str(TokenLot.objects.get(account=account).pk),
        "lots-0-account": str(account.pk),
    }

    answers = meeting(
        lambda: services.tokens_debit(user_id=user.pk, amount=30),
        lambda: staff_browser.post(url, form),
    )

    assert answers["held"].amount == -30
    assert TokenAccount.objects.get(user=user).balance == 70
    assert answers["waiting"].status_code == 403
    assert list(ledger_check()) == []


def test_voiding_a_lot_while_a_debit_burns_it_reports_what_the_void_took(staff_browser):
    """The Void page read the lot before the void took the account's lock and reported that
    figure: a debit of 30 committing in between left 70 to void, and the page said it had
    voided 100. Now it reports what the void took, read under the lock."""
    user = UserFactory()
    lot = grant(user, 100)
    url = reverse("admin:tokens_tokenlot_void", args=[lot.pk])

    answers = meeting(
        lambda: services.tokens_debit(user_id=user.pk, amount=30),
        lambda: staff_browser.post(url, {"reason": "Fraud check"}, follow=True),
    )

    assert answers["held"].amount == -30
    page = answers["waiting"]
    assert [str(message) for message in page.context["messages"]] == ["Voided 70 tokens."]
    void = TokenTransaction.objects.get(transaction_type="void")
    assert (void.amount, void.balance_after, void.description) == (-70, 0, "Fraud check")
    assert TokenLot.objects.get(pk=lot.pk).remaining == 0
    assert TokenAccount.objects.get(user=user).balance == 0
    assert list(ledger_check()) == []
