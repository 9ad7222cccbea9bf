"""Query counts of the hot paths, measured as in production: no wrapping test transaction
(it would turn each write into a savepoint and count two extra statements). Django records
BEGIN and COMMIT as queries too, and they are counted here."""

import pytest
from django.db.utils import ConnectionHandler

from accounts.tests.factories import UserFactory
from conftest import client_for
from tokens import services
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user():
    user = UserFactory()
    fund(user, 10_000)
    return user


def test_balance_costs_one_query_with_auth(user, django_assert_max_num_queries):
    """Authentication trusts the access token's claims: no read of the user."""
    client = client_for(user)

    with django_assert_max_num_queries(1):
        response = client.get("/api/v1/user/tokens/balance")

    assert response.json()["balance"] == 10_000


def test_consume_costs_at_most_four_queries_with_auth(user, django_assert_max_num_queries):
    """BEGIN, the ledger's one statement, the idempotency record, COMMIT."""
    client = client_for(user)

    with django_assert_max_num_queries(4):
        response = client.post(
            "/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="budget"
        )

    assert response.status_code == 201
    assert response.json()["balance"] == 9_999


@pytest.fixture
def connection_look_ups(monkeypatch) -> list[str]:
    """Every look-up of a database connection (`django.db.connection`'s attributes and
    `connections[...]` alike): about 17,000 instructions each (docs/decisions.md, Speed)."""
    seen: list[str] = []
    look_up = ConnectionHandler.__getitem__

    def counted(self, alias):
        seen.append(alias)
        return look_up(self, alias)

    monkeypatch.setattr(ConnectionHandler, "__getitem__", counted)
    return seen


def test_consume_looks_its_connection_up_at_most_six_times(user, connection_look_ups):
    """Django's three (`atomic()`'s entry and exit, `on_commit`), `all_or_nothing()`'s, whose
    connection the idempotency record takes, the usage's, which its transaction, ledger
    statement and alerts' check take, and `reset_queries` at the request's start; under
    gunicorn two more (`close_old_connections` at its start and end), which Django's test
    client leaves out."""
    client = client_for(user)
    client.post("/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="first")
    connection_look_ups.clear()

    response = client.post(
        "/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="look-ups"
    )

    assert response.status_code == 201
    assert len(connection_look_ups) <= 6, connection_look_ups


def test_a_hold_and_its_capture_cost_four_queries_each(user, django_assert_max_num_queries):
    """As a consume: BEGIN, one ledger function (`tokens_hold`, `tokens_capture`), the
    idempotency record, COMMIT; so the pair costs two consumes."""
    client = client_for(user)

    with django_assert_max_num_queries(4):
        held = client.post("/api/v1/user/holds", {"amount": 30}, HTTP_IDEMPOTENCY_KEY="hold")
    with django_assert_max_num_queries(4):
        captured = client.post(
            f"/api/v1/user/holds/{held.json()['hold']['id']}/capture",
            {"amount": 12},
            HTTP_IDEMPOTENCY_KEY="capture",
        )

    assert held.json()["balance"] == {"balance": 10_000, "available": 9_970}
    assert (captured.json()["hold"]["status"], captured.json()["usage"]["charged"]) == (
        "captured",
        12,
    )
    balance = client.get("/api/v1/user/tokens/balance").json()
    assert (balance["balance"], balance["available"], balance["held"]) == (9_988, 9_988, 0)


def test_a_refused_capture_answers_in_one_go(user, django_assert_max_num_queries):
    """A capture of a hold captured already: the function's refusal, the lookup of the key's
    usage (none) and the refusal's record; no rollback and second attempt."""
    client = client_for(user)
    held = client.post("/api/v1/user/holds", {"amount": 30}, HTTP_IDEMPOTENCY_KEY="hold")
    url = f"/api/v1/user/holds/{held.json()['hold']['id']}/capture"
    client.post(url, {"amount": 12}, HTTP_IDEMPOTENCY_KEY="first")

    with django_assert_max_num_queries(5):
        again = client.post(url, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="second")

    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")


@pytest.mark.parametrize("per_page", [1, 100])
@pytest.mark.parametrize(
    "params", [{"page": 1}, {"page": 2, "type": "usage"}, {"cursor": ""}], ids=str
)
def test_a_history_page_costs_two_queries_whatever_its_size(
    user, django_assert_max_num_queries, per_page, params
):
    client = client_for(user)
    for _ in range(220):
        services.tokens_debit(user_id=user.pk, amount=1)

    with django_assert_max_num_queries(2):
        response = client.get("/api/v1/user/tokens/transactions", {"per_page": per_page, **params})

    assert len(response.json()["items"]) == per_page


def test_a_replayed_or_refused_consume_stays_within_its_budget(user, django_assert_max_num_queries):
    """A replay: the ledger statement refused by its key, the entry, ROLLBACK, the record.
    A refusal: the ledger statement, the balance, the key, ROLLBACK, the record."""
    client = client_for(user)
    client.post("/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="again")

    with django_assert_max_num_queries(5):
        replay = client.post(
            "/api/v1/user/tokens/consume", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="again"
        )
    with django_assert_max_num_queries(6):
        refusal = client.post(
            "/api/v1/user/tokens/consume", {"amount": 10**6}, HTTP_IDEMPOTENCY_KEY="short"
        )

    assert (replay.status_code, refusal.status_code) == (201, 402)


def test_usage_by_a_service_key_costs_at_most_five_queries(user, django_assert_max_num_queries):
    """The key, BEGIN, the ledger's one statement, the idempotency record, COMMIT: the user
    is read only when the ledger finds no account for them (a 404 or a 402)."""
    from accounts.services import api_key_create
    from conftest import service_client

    service = service_client(api_key_create(name="backend", actor_id=None).secret)
    usage = f"/api/v1/users/{user.pk}/usage"
    service.post(usage, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="first")  # marks the key used

    with django_assert_max_num_queries(5):
        response = service.post(usage, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="budget")

    assert response.status_code == 201
    assert response.json()["balance"]["balance"] == 9_998


def test_usage_by_a_service_key_looks_its_connection_up_at_most_seven_times(
    user, connection_look_ups
):
    """A consume's six, and one for the key's read (on psycopg's connection, `fetched`)."""
    from accounts.services import api_key_create
    from conftest import service_client

    service = service_client(api_key_create(name="backend", actor_id=None).secret)
    usage = f"/api/v1/users/{user.pk}/usage"
    service.post(usage, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="first")  # marks the key used
    connection_look_ups.clear()

    response = service.post(usage, {"amount": 1}, HTTP_IDEMPOTENCY_KEY="look-ups")

    assert response.status_code == 201
    assert len(connection_look_ups) <= 7, connection_look_ups
