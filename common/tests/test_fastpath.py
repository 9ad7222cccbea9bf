"""`common.api.fastpath`: the common case of the balance and of the public listings, answered
beside DRF, is the answer DRF gives, byte for byte and header for header; every other case
is DRF's own; a request is counted once by the rate limits."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.api.fastpath import CommonCaseFirst
from common.tests.waits import row_locked, timeouts
from conftest import client_for
from tokens.tests.factories import grant

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/user/tokens/balance"
LISTINGS = ["/api/v1/token-bundles", "/api/v1/add-ons", "/api/v1/plans"]
VARYING = {"Date", "X-Request-ID"}


@pytest.fixture
def funded(user):
    grant(user, 25)
    return user


def drf_answers_from_now_on(monkeypatch) -> None:
    """Every later request answered by DRF's dispatch, as before the fast path."""
    monkeypatch.setattr(CommonCaseFirst, "_common_case", lambda self, request: None)


@pytest.fixture
def drf_dispatches(monkeypatch):
    """Counts the requests DRF's own machinery saw."""
    seen = []
    initial = APIView.initial

    def counted(self, request, *args, **kwargs):
        seen.append(request.path)
        return initial(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "initial", counted)
    return seen


def answer(response) -> tuple:
    headers = {name: value for name, value in response.headers.items() if name not in VARYING}
    return response.status_code, response.content, headers


def fast_then_drf(monkeypatch, client, path: str, headers: dict) -> tuple[tuple, tuple]:
    """The same request answered as it comes, then by DRF's dispatch."""
    first = answer(client.get(path, **headers))
    drf_answers_from_now_on(monkeypatch)
    return first, answer(client.get(path, **headers))


def expired_token(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=-1))
    return str(token)


ACCEPT_CASES = {
    "accepts json": {"HTTP_ACCEPT": "application/json"},
    "accepts anything": {"HTTP_ACCEPT": "*/*"},
    "accepts application/*": {"HTTP_ACCEPT": "application/*, text/html;q=0.5"},
    "asks for indentation": {"HTTP_ACCEPT": "application/json; indent=2"},
    "accepts only html": {"HTTP_ACCEPT": "text/html"},
}
CASES = {
    "signed in": {},
    **ACCEPT_CASES,
    "no token": {"HTTP_AUTHORIZATION": ""},
    "a malformed token": {"HTTP_AUTHORIZATION": "Bearer not.a.token"},
    "another scheme": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    "an expired token": "expired",
    "an api key": "key",
}


def headers_for(case: str, user) -> dict:
    extra = CASES[case]
    if extra == "expired":
        return {"HTTP_AUTHORIZATION": f"Bearer {expired_token(user)}"}
    if extra == "key":
        secret = api_key_create(name="backend", actor_id=None).secret
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    return extra


@pytest.mark.parametrize("case", CASES)
def test_every_answer_is_the_one_drf_gives(case, funded, monkeypatch):
    fast, drf = fast_then_drf(monkeypatch, client_for(funded), BALANCE, headers_for(case, funded))

    assert fast == drf


@pytest.mark.parametrize(
    ("case", "by_drf"),
    [("signed in", False), ("accepts anything", False)]
    + [(case, True) for case in ["asks for indentation", "accepts only html", "no token"]]
    + [(case, True) for case in ["an expired token", "an api key", "another scheme"]],
)
def test_only_the_common_case_passes_drf_by(case, by_drf, funded, drf_dispatches):
    response = client_for(funded).get(BALANCE, **headers_for(case, funded))

    assert (drf_dispatches == [BALANCE]) is by_drf
    assert response.status_code in {200, 401, 403, 406}


def test_the_common_case_answers_the_users_balance(funded, drf_dispatches):
    response = client_for(funded).get(BALANCE)

    assert response.status_code == 200
    assert response.json()["balance"] == 25
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert drf_dispatches == []


@pytest.fixture
def catalog(db):
    TokenBundleFactory(name="Small", token_amount=10)
    TokenBundleFactory(name="Large", token_amount=100)
    AddOnFactory(name="Support")
    PlanFactory(name="Pro")


LISTING_CASES = {
    "anyone": {},
    **ACCEPT_CASES,
    "a stale token": {"HTTP_AUTHORIZATION": "Bearer not.a.token"},
    "its etag": "etag",
    "another etag": {"HTTP_IF_NONE_MATCH": '"other"'},
}


def listing_headers(case: str, client, path: str) -> dict:
    extra = LISTING_CASES[case]
    if extra == "etag":
        return {"HTTP_IF_NONE_MATCH": client.get(path)["ETag"]}
    return extra


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("case", LISTING_CASES)
def test_every_listing_answer_is_the_one_drf_gives(case, path, catalog, api_client, monkeypatch):
    headers = listing_headers(case, api_client, path)

    fast, drf = fast_then_drf(monkeypatch, api_client, path, headers)

    assert fast == drf


@pytest.mark.parametrize(
    ("case", "by_drf"),
    [
        ("anyone", False),
        ("a stale token", False),
        ("its etag", False),
        ("asks for indentation", True),
        ("accepts only html", True),
    ],
)
def test_only_the_listings_common_case_passes_drf_by(
    case, by_drf, catalog, api_client, drf_dispatches
):
    path = LISTINGS[0]
    headers = listing_headers(case, api_client, path)
    drf_dispatches.clear()

    response = api_client.get(path, **headers)

    assert (drf_dispatches == [path]) is by_drf
    assert response.status_code in {200, 304, 406}


def test_the_listings_common_case_answers_the_catalog(catalog, api_client, drf_dispatches):
    response = api_client.get(LISTINGS[0])

    assert response.status_code == 200
    assert sorted(item["name"] for item in response.json()["items"]) == ["Large", "Small"]
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response["Cache-Control"] == "public, no-cache"
    assert drf_dispatches == []


@pytest.fixture(params=["the balance, per user", "a listing, per address"])
def limited_read(request, monkeypatch, funded):
    """A client, a path it reads, and `limit(rate)` that sets the rate limit counting it, in
    a window fixed in time (a boundary mid-test would reset the counts)."""
    from common.api.throttling import AnonThrottle, UserThrottle

    if request.param == "the balance, per user":
        client, path, throttle, scope = client_for(funded), BALANCE, UserThrottle, "user"
    else:
        request.getfixturevalue("catalog")
        client, path, throttle, scope = APIClient(), LISTINGS[1], AnonThrottle, "anon"
    monkeypatch.setattr(throttle, "timer", lambda self: 1_000_040.0)

    def limit(rate: str) -> None:
        monkeypatch.setitem(throttle.THROTTLE_RATES, scope, rate)

    return client, path, limit


def test_each_request_is_counted_once_by_its_rate_limit(limited_read):
    client, path, limit = limited_read
    limit("3/minute")

    statuses = [client.get(path).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_a_refused_limit_answers_as_drf_does(limited_read, monkeypatch):
    client, path, limit = limited_read
    limit("1/minute")
    assert client.get(path).status_code == 200

    fast, drf = fast_then_drf(monkeypatch, client, path, {})

    assert fast == drf
    assert drf[0] == 429
    assert drf[2]["Retry-After"] == "40"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "table"),
    [(BALANCE, "tokens_tokenaccount"), ("/api/v1/token-bundles", "catalog_catalogversion")],
)
def test_a_read_the_database_gave_up_waiting_on_is_answered_as_drf_answers_it(
    path, table, monkeypatch
):
    """A table locked by a stuck transaction: the fast path's 503 was the middleware's, with
    other bytes and no Allow header."""
    user = UserFactory()
    grant(user, 25)
    client = client_for(user)
    with (
        timeouts(lock_ms=200, statement_ms=15000),
        row_locked(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE", []),
    ):
        fast, drf = fast_then_drf(monkeypatch, client, path, {})

    assert fast == drf
    assert fast[0] == 503
    assert fast[2]["Retry-After"] == "3"


def test_each_view_keeps_its_own_allow_and_vary_headers(funded, catalog, monkeypatch):
    client = client_for(funded)
    paths = [BALANCE, *LISTINGS] * 2

    fast = [answer(client.get(path))[2] for path in paths]
    drf_answers_from_now_on(monkeypatch)
    drf = [answer(client.get(path))[2] for path in paths]

    assert [(headers["Allow"], headers.get("Vary")) for headers in fast] == [
        (headers["Allow"], headers.get("Vary")) for headers in drf
    ]
    assert fast == drf
