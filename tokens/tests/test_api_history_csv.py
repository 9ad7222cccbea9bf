import pytest

from tokens import services
from tokens.tests.factories import fund
from tokens.tests.history_helpers import HISTORY, csv_rows

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


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
