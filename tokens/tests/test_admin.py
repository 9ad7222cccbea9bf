import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.tests.factories import UserFactory
from common.tests.helpers import database_state
from tokens.admin.accounts import LOTS_SHOWN
from tokens.models import TokenAccount, TokenLot, TokenTransaction
from tokens.services import tokens_debit
from tokens.tests.factories import fund, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(user):
    fund(user, 40)
    return TokenAccount.objects.get(user=user)


def test_account_pages_render_with_the_adjust_link(staff_browser, account):
    changelist = staff_browser.get(reverse("admin:tokens_tokenaccount_changelist"))
    change = staff_browser.get(reverse("admin:tokens_tokenaccount_change", args=[account.pk]))

    assert changelist.status_code == 200
    assert change.status_code == 200
    assert reverse("admin:tokens_tokenaccount_adjust", args=[account.pk]) in change.content.decode()


def test_accounts_are_searchable_by_email(staff_browser, account, user):
    response = staff_browser.get(reverse("admin:tokens_tokenaccount_changelist"), {"q": user.email})

    assert list(response.context["cl"].result_list) == [account]


def test_the_adjust_form_goes_through_the_service(staff_browser, staff_user, account):
    url = reverse("admin:tokens_tokenaccount_adjust", args=[account.pk])
    submission = str(uuid.uuid4())
    form = {"amount": "-15", "reason": "Chargeback", "submission": submission}

    first = staff_browser.post(url, form)
    staff_browser.post(url, form)

    assert first.status_code == 302
    account.refresh_from_db()
    assert account.balance == 25
    entry = TokenTransaction.objects.get(account=account, amount__lt=0)
    assert (entry.amount, entry.description, entry.created_by) == (-15, "Chargeback", staff_user)


def test_the_adjust_form_refuses_going_below_zero(staff_browser, account):
    url = reverse("admin:tokens_tokenaccount_adjust", args=[account.pk])

    response = staff_browser.post(
        url, {"amount": "-41", "reason": "Too much", "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 200
    assert "The balance is 40 tokens; this needs 41." in response.content.decode()
    account.refresh_from_db()
    assert account.balance == 40


def test_the_adjust_form_renders(staff_browser, account):
    response = staff_browser.get(reverse("admin:tokens_tokenaccount_adjust", args=[account.pk]))

    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()


def test_the_ledger_is_read_only_in_admin(staff_browser, account):
    entry = TokenTransaction.objects.get(account=account)

    changelist = staff_browser.get(reverse("admin:tokens_tokentransaction_changelist"))
    view = staff_browser.get(reverse("admin:tokens_tokentransaction_change", args=[entry.pk]))
    add = staff_browser.get(reverse("admin:tokens_tokentransaction_add"))
    delete = staff_browser.get(reverse("admin:tokens_tokentransaction_delete", args=[entry.pk]))
    edit = staff_browser.post(
        reverse("admin:tokens_tokentransaction_change", args=[entry.pk]), {"amount": "999"}
    )

    assert changelist.status_code == view.status_code == 200
    assert add.status_code == delete.status_code == edit.status_code == 403
    assert TokenTransaction.objects.get(pk=entry.pk).amount == 40


def test_the_ledger_filters_by_type_and_searches_by_email(staff_browser, account, user):
    url = reverse("admin:tokens_tokentransaction_changelist")

    by_type = staff_browser.get(url, {"transaction_type__exact": "usage"})
    by_email = staff_browser.get(url, {"q": user.email})

    assert list(by_type.context["cl"].result_list) == []
    assert len(by_email.context["cl"].result_list) == 1


def test_admin_pages_redirect_anonymous_to_login(client, account):
    for name in ["tokens_tokenaccount_changelist", "tokens_tokentransaction_changelist"]:
        response = client.get(reverse(f"admin:{name}"))
        assert response.status_code == 302


@pytest.mark.parametrize(
    ("view", "form"),
    [
        ("adjust", {"reason": "Goodwill"}),
        ("grant", {"reason": "Goodwill", "category": "promotional", "priority": "50"}),
    ],
    ids=["adjust", "grant"],
)
def test_a_form_sent_again_with_another_amount_records_nothing_more_and_says_so(
    staff_browser, account, view, form
):
    """The page restored from the browser's history (Back) keeps the first submission's key;
    sent again with another amount, the ledger refuses the key, which was a 500."""
    url = reverse(f"admin:tokens_tokenaccount_{view}", args=[account.pk])
    form = {**form, "submission": str(uuid.uuid4())}
    staff_browser.post(url, {**form, "amount": "10"})

    response = staff_browser.post(url, {**form, "amount": "20"})

    assert response.status_code == 200
    assert "This form was sent already" in response.content.decode()
    account.refresh_from_db()
    assert account.balance == 50


@pytest.mark.parametrize("model", [TokenAccount, TokenLot], ids=["account", "lot"])
def test_saving_an_account_or_lot_page_cannot_undo_a_debit_made_meanwhile(
    staff_browser, account, user, monkeypatch, model
):
    """The pages are read-only, yet Save wrote the whole row back as read at the request's
    start: a debit made in between was undone on the balance or on the lot (a balance the
    ledger does not explain, or tokens to spend twice). The debit here runs inside the
    admin's request, between its read and its write, as another request's would commit."""
    row = model.objects.get(pk=account.pk) if model is TokenAccount else account.lots.get()
    model_admin = admin.site._registry[model]
    read = model_admin.get_object

    def read_then_debit_elsewhere(*args, **kwargs):
        found = read(*args, **kwargs)
        tokens_debit(user_id=user.pk, amount=15)
        return found

    monkeypatch.setattr(model_admin, "get_object", read_then_debit_elsewhere)
    url = reverse(f"admin:tokens_{model._meta.model_name}_change", args=[row.pk])

    response = staff_browser.post(
        url, {"_save": "Save", "lots-TOTAL_FORMS": "0", "lots-INITIAL_FORMS": "0"}
    )

    account.refresh_from_db()
    ledger = account.entries.order_by("-number").values_list("balance_after", flat=True)
    assert account.balance == account.lots.get().remaining == ledger[0]
    assert response.status_code == 403


def test_a_debit_across_many_lots_shows_them_in_a_few_queries(
    staff_browser, user, django_assert_max_num_queries
):
    for _ in range(30):
        grant(user, 1)
    debit = tokens_debit(user_id=user.pk, amount=30)
    url = reverse("admin:tokens_tokentransaction_change", args=[debit.pk])

    with django_assert_max_num_queries(12):
        response = staff_browser.get(url)

    assert response.status_code == 200
    assert response.content.decode().count("Promotional lot: 0 of 1") == 30


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ("2000-01-01 00:00", "Must be in the future."),
        ("9999-12-31 23:59:59.5", "Must be no later than 9999-12-31T23:59:59Z."),
    ],
    ids=["past", "past-the-last-second"],
)
def test_a_grant_whose_expiry_cannot_be_is_refused_on_the_form(staff_browser, account, sent, error):
    """An expiry in the last second's fraction cannot be rounded up to the whole second
    after it (LotSpec), which was a 500."""
    url = reverse("admin:tokens_tokenaccount_grant", args=[account.pk])
    form = {"amount": "5", "reason": "Goodwill", "category": "promotional", "priority": "50"}

    response = staff_browser.post(
        url, {**form, "expires_at": sent, "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"expires_at": [error]}
    assert account.lots.count() == 1


@pytest.mark.parametrize("may_change", [False, True], ids=["viewer", "may-change"])
def test_adjust_grant_and_void_are_offered_only_to_staff_who_may_use_them(
    client, account, may_change
):
    """A viewer (view permissions only) was offered Adjust tokens, Grant tokens and Void lot,
    and each answered 403."""
    codenames = ["view_tokenaccount", "view_tokenlot"]
    if may_change:
        codenames.append("change_tokenaccount")
    member = UserFactory(is_staff=True)
    member.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(member)
    lot = account.lots.get()
    links = {
        reverse("admin:tokens_tokenaccount_adjust", args=[account.pk]),
        reverse("admin:tokens_tokenaccount_grant", args=[account.pk]),
        reverse("admin:tokens_tokenlot_void", args=[lot.pk]),
    }

    pages = [
        client.get(reverse("admin:tokens_tokenaccount_change", args=[account.pk])),
        client.get(reverse("admin:tokens_tokenlot_change", args=[lot.pk])),
    ]
    offered = {link for link in links for page in pages if link in page.content.decode()}
    answers = {client.get(link).status_code for link in links}

    assert [page.status_code for page in pages] == [200, 200]
    assert offered == (links if may_change else set())
    assert answers == ({200} if may_change else {403})


def test_the_account_page_shows_the_newest_lots_in_a_few_queries(
    staff_browser, account, user, django_assert_max_num_queries
):
    """Every lot was a row of the page: a customer with 5,000 lots had an 8 MB page that took
    15 s to draw."""
    lots = [grant(user, 1) for _ in range(LOTS_SHOWN + 5)]
    url = reverse("admin:tokens_tokenaccount_change", args=[account.pk])

    with django_assert_max_num_queries(10):
        response = staff_browser.get(url)

    page = response.content.decode()
    shown = [lot for lot in [*lots, account.lots.earliest("created_at")] if str(lot.pk) in page]
    assert response.status_code == 200
    assert shown == lots[-LOTS_SHOWN:]


@pytest.mark.parametrize("form", ["adjust", "grant", "void"])
def test_a_reason_of_invisible_characters_only_is_refused_and_changes_nothing(
    staff_browser, account, form
):
    """The staff API has such a reason blank (common.text.trimmed); the admin recorded the
    correction with a reason that reads as nothing, and a reason pasted with a zero-width
    space at its end kept it."""
    lot = account.lots.get()
    url = {
        "adjust": reverse("admin:tokens_tokenaccount_adjust", args=[account.pk]),
        "grant": reverse("admin:tokens_tokenaccount_grant", args=[account.pk]),
        "void": reverse("admin:tokens_tokenlot_void", args=[lot.pk]),
    }[form]
    sent = {"amount": "5", "category": "promotional", "priority": "50"}
    before = database_state()

    response = staff_browser.post(
        url, {**sent, "reason": "\u200b\u2060 ", "submission": str(uuid.uuid4())}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert database_state() == before
