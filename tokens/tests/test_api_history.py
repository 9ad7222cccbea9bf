import base64
import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import UserFactory
from conftest import client_for
from tokens import services
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

BALANCE = "/api/v1/user/tokens/balance"
HISTORY = "/api/v1/user/tokens/transactions"


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_balance_of_a_user_who_never_bought_is_zero(user_client):
    response = user_client.get(BALANCE)

    assert response.status_code == 200
    assert response.json() == {
        "balance": 0,
        "available": 0,
        "held": 0,
        "total_purchased": 0,
        "total_spent": 0,
        "by_category": {"trial": 0, "promotional": 0, "included": 0, "paid": 0},
        "expiring": [],
        "updated_at": None,
    }


def test_balance_shows_the_account(user_client, user):
    fund(user, 100)
    services.tokens_debit(user_id=user.pk, amount=40)

    body = user_client.get(BALANCE).json()

    assert (body["balance"], body["total_purchased"], body["total_spent"]) == (60, 0, 40)
    assert body["updated_at"].endswith("Z")


def test_balance_needs_authentication(api_client):
    assert api_client.get(BALANCE).status_code == 401


@pytest.fixture
def history(user):
    """Six entries: funds, four usages, one refund."""
    fund(user, 100)
    usages = [
        services.tokens_debit(user_id=user.pk, amount=amount, description=f"job {amount}")
        for amount in (1, 2, 3, 4)
    ]
    services.usage_refund(transaction_id=usages[0].pk, actor_id=None)
    return usages


def test_history_is_newest_first_in_the_contract_shape(user_client, history):
    body = user_client.get(HISTORY).json()

    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (6, 1, 20, 1)
    assert [item["transaction_type"] for item in body["items"]] == [
        "refund",
        "usage",
        "usage",
        "usage",
        "usage",
        "adjustment",
    ]
    usage = body["items"][1]
    assert usage == {
        "id": str(history[3].pk),
        "amount": -4,
        "transaction_type": "usage",
        "reference_id": "",
        "description": "job 4",
        "balance_after": 90,
        "created_at": history[3].created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert body["next_cursor"] is None


def test_history_filters_by_type(user_client, history):
    body = user_client.get(HISTORY, {"type": "usage"}).json()

    assert body["total"] == 4
    assert {item["transaction_type"] for item in body["items"]} == {"usage"}


def test_history_filters_by_time(user_client, history):
    moment = timezone.now()
    later = (moment + timedelta(hours=1)).isoformat()
    earlier = (moment - timedelta(hours=1)).isoformat()

    none_after = user_client.get(HISTORY, {"created_after": later}).json()
    all_before = user_client.get(HISTORY, {"created_before": later, "created_after": earlier})

    assert none_after["total"] == 0
    assert all_before.json()["total"] == 6


def test_pages_give_a_cursor_for_what_follows(user_client, history):
    first = user_client.get(HISTORY, {"per_page": 4}).json()
    rest = user_client.get(HISTORY, {"per_page": 4, "cursor": first["next_cursor"]}).json()

    assert first["pages"] == 2
    assert rest == {
        "items": rest["items"],
        "per_page": 4,
        "next_cursor": None,
    }
    seen = [item["id"] for item in first["items"] + rest["items"]]
    assert len(seen) == len(set(seen)) == 6


def test_cursor_paging_walks_the_whole_history(user_client, history):
    seen, cursor = [], ""
    while cursor is not None:
        body = user_client.get(HISTORY, {"per_page": 2, "cursor": cursor}).json()
        seen += [item["balance_after"] for item in body["items"]]
        cursor = body["next_cursor"]

    assert seen == [91, 90, 94, 97, 99, 100]


def test_cursor_paging_keeps_the_filters(user_client, history):
    first = user_client.get(HISTORY, {"type": "usage", "per_page": 3, "cursor": ""}).json()
    second = user_client.get(
        HISTORY, {"type": "usage", "per_page": 3, "cursor": first["next_cursor"]}
    ).json()

    amounts = [item["amount"] for item in first["items"] + second["items"]]
    assert amounts == [-4, -3, -2, -1]
    assert second["next_cursor"] is None


def cursor_at(number: int) -> str:
    return base64.urlsafe_b64encode(f"n:{number}".encode()).decode().rstrip("=")


def test_a_well_formed_cursor_is_a_position_whichever_account_it_came_from(user_client, history):
    """A cursor names a place in a history, not an entry: past the newest pages from the
    newest, at the oldest an empty last page (docs/api.md)."""
    past_the_newest = user_client.get(HISTORY, {"per_page": 2, "cursor": cursor_at(99999999)})
    at_the_oldest = user_client.get(HISTORY, {"per_page": 2, "cursor": cursor_at(1)})

    newest = user_client.get(HISTORY, {"per_page": 2, "cursor": ""}).json()
    assert (past_the_newest.status_code, past_the_newest.json()) == (200, newest)
    assert (at_the_oldest.status_code, at_the_oldest.json()) == (
        200,
        {"items": [], "per_page": 2, "next_cursor": None},
    )


@pytest.mark.parametrize("blank", [" ", "\t", "  \n"])
def test_a_cursor_of_whitespace_is_the_empty_cursor(user_client, history, blank):
    """Surrounding whitespace is trimmed from a cursor (`"bjox "` is `"bjox"`), so one of
    whitespace alone is the empty cursor: the newest page. It was a 500 (the trimmed `""`
    reached the query as a number)."""
    response = user_client.get(HISTORY, {"per_page": 2, "cursor": blank})

    newest = user_client.get(HISTORY, {"per_page": 2, "cursor": ""}).json()
    assert (response.status_code, response.json()) == (200, newest)


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_csv_streams_every_matching_row_with_a_header(user_client, history):
    response = user_client.get(HISTORY, {"format": "csv", "type": "usage", "per_page": 1})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="token-transactions.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [row["amount"] for row in rows] == ["-4", "-3", "-2", "-1"]
    assert list(rows[0]) == [
        "id",
        "created_at",
        "transaction_type",
        "amount",
        "balance_after",
        "reference_id",
        "description",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.through_pgbouncer
def test_csv_streams_past_one_batch(user_client, user, monkeypatch):
    from tokens import selectors

    monkeypatch.setattr(selectors.history, "CSV_BATCH_SIZE", 3)
    fund(user, 100)
    for _ in range(7):
        services.tokens_debit(user_id=user.pk, amount=1)

    rows = csv_rows(user_client.get(HISTORY, {"format": "csv"}))

    assert [int(row["balance_after"]) for row in rows] == [93, 94, 95, 96, 97, 98, 99, 100]


def test_csv_quotes_text_a_spreadsheet_would_run(user_client, user):
    fund(user, 10)
    services.tokens_debit(user_id=user.pk, amount=1, description='=HYPERLINK("x")')

    rows = csv_rows(user_client.get(HISTORY, {"format": "csv"}))

    assert rows[0]["description"] == '\'=HYPERLINK("x")'
    assert rows[0]["amount"] == "-1"


@pytest.mark.parametrize("accept", ["text/csv", "text/*", "text/csv, application/json;q=0.5"])
def test_csv_answers_a_client_that_accepts_only_csv(user_client, user, accept):
    """As the receipt answers `Accept: application/pdf`: the export was a 406 ("This API only
    answers with JSON") to the one client that said it wanted CSV."""
    fund(user, 10)

    response = user_client.get(HISTORY, {"format": "csv"}, HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [row["amount"] for row in csv_rows(response)] == ["10"]


def test_a_refused_csv_export_is_json_whatever_the_client_accepts(user_client):
    response = user_client.get(HISTORY, {"format": "csv", "type": "gift"}, HTTP_ACCEPT="text/csv")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(response.json()["fields"]) == ["type"]


def test_a_page_of_history_is_json_only_so_accepting_only_csv_is_406(user_client):
    response = user_client.get(HISTORY, HTTP_ACCEPT="text/csv")

    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


def test_another_users_entries_never_appear(user_client, user, history):
    stranger = UserFactory()
    fund(stranger, 555)
    services.tokens_debit(user_id=stranger.pk, amount=5, description="secret")

    pages = user_client.get(HISTORY, {"per_page": 100}).json()
    cursor = user_client.get(HISTORY, {"cursor": ""}).json()
    exported = csv_rows(user_client.get(HISTORY, {"format": "csv"}))
    stranger_view = client_for(stranger).get(HISTORY).json()

    for listing in (pages["items"], cursor["items"], exported):
        assert "secret" not in {row["description"] for row in listing}
        assert len(listing) == 6
    assert stranger_view["total"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "gift"}, "type"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "bjow"}, "cursor"),
        ({"cursor": "eDox"}, "cursor"),
        ({"cursor": "a" * 65}, "cursor"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-45"}, "created_before"),
        ({"created_after": "2026-W01-1"}, "created_after"),
        ({"created_after": "20260101T100000"}, "created_after"),
        ({"created_before": "2026-01-01T10"}, "created_before"),
        ({"created_before": "2026-01-01T10:00:00+0100"}, "created_before"),
        ({"created_after": "2026-02-01", "created_before": "2026-01-01"}, "created_before"),
        ({"page": 0}, "page"),
        ({"page": 2}, "page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"format": "xml"}, "format"),
        ({"cursor": "", "page": 2}, "cursor"),
        # Checked like a body: empty is a value, twice is refused; no 500 on odd digits.
        ({"type": ""}, "type"),
        ({"page": "1350841865560162566144"}, "page"),
        ({"created_after": ""}, "created_after"),
        ({"format": ""}, "format"),
        ({"type": ["usage", "purchase"]}, "type"),
        ({"cursor": base64.urlsafe_b64encode("n:\u00b2".encode()).decode()}, "cursor"),
        # A cursor the API gave out with something else in it: base64 would skip the rest.
        ({"cursor": "bjox\x00"}, "cursor"),
        ({"cursor": "bj.ox"}, "cursor"),
        ({"cursor": "bjox!!"}, "cursor"),
        ({"cursor": "bj ox"}, "cursor"),
        ({"cursor": "bjox==="}, "cursor"),
        ({"cursor": "bjox/"}, "cursor"),
    ],
)
def test_history_refuses_bad_parameters(user_client, history, params, field):
    response = user_client.get(HISTORY, params)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]


@pytest.mark.parametrize("page", [2, 2_147_483_647])
@pytest.mark.parametrize("params", [{}, {"type": "usage"}], ids=["all", "filtered"])
def test_a_page_past_the_last_is_refused_before_any_row_is_read(
    user_client, history, django_assert_max_num_queries, page, params
):
    """The count says the page is past the last: the 400 comes without reading the rows
    before it (an OFFSET that deep walks the whole history)."""
    with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(1):
        response = user_client.get(HISTORY, {"page": page, **params})

    assert (response.status_code, response.json()["fields"]) == (
        400,
        {"page": [f"Page {page} is past the last page (1)."]},
    )
    assert [q["sql"] for q in queries if "OFFSET" in q["sql"].upper()] == []


def test_history_needs_authentication(api_client):
    assert api_client.get(HISTORY).status_code == 401
