"""`common.api.request_headers`: an API request's headers are Django's own, name for name and
value for value, and answer `in`, `get` and `[]` as Django's do."""

import pytest
from django.http.request import HttpHeaders
from hypothesis import given
from hypothesis import strategies as st

from common.api import request_headers
from common.api.request_headers import RequestHeaders
from conftest import client_for
from tokens.tests.factories import grant

# META keys as WSGI servers and Django's test client write them, in any case: prefixed
# headers, the two unprefixed ones, one prefixed twice, and keys that name no header.
KEYS = [
    "HTTP_AUTHORIZATION",
    "HTTP_IDEMPOTENCY_KEY",
    "HTTP_ORIGIN",
    "HTTP_X_REQUEST_ID",
    "HTTP_CONTENT_TYPE",
    "HTTP_HTTP_X",
    "HTTP_",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REMOTE_ADDR",
    "wsgi.input",
    "PATH_INFO",
    "QUERY_STRING",
]
ASKED = ["Authorization", "idempotency-key", "ORIGIN", "Content-Type", "content-length", "X"]


def any_case(names: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(names).flatmap(
        lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
            lambda upper: "".join(
                c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)
            )
        )
    )


environs = st.dictionaries(any_case(KEYS), st.text(max_size=5), max_size=8)


@given(environ=environs, asked=any_case(ASKED), default=st.sampled_from([None, "", b""]))
def test_the_headers_are_djangos(environ, asked, default):
    djangos = HttpHeaders(environ)
    ours = RequestHeaders(environ)

    assert list(ours.items()) == list(djangos.items())
    assert (asked in ours) is (asked in djangos)
    assert ours.get(asked) == djangos.get(asked)
    assert ours.get(asked, default) == djangos.get(asked, default)
    if asked in djangos:
        assert ours[asked] == djangos[asked]


def test_a_key_that_is_not_text_fails_as_in_djangos():
    for headers in (RequestHeaders({"HTTP_ORIGIN": "x"}), HttpHeaders({"HTTP_ORIGIN": "x"})):
        with pytest.raises(AttributeError):
            _ = 1 in headers
        with pytest.raises(AttributeError):
            headers.get(1)


def test_made_up_header_names_are_kept_up_to_a_bound(monkeypatch):
    monkeypatch.setattr(request_headers, "_names", {})
    for index in range(request_headers.NAMES_KEPT + 10):
        environ = {f"HTTP_MADE_UP_{index}": "x", "REMOTE_ADDR": "127.0.0.1"}
        assert RequestHeaders(environ) == HttpHeaders(environ)

    assert len(request_headers._names) <= request_headers.NAMES_KEPT


@pytest.mark.django_db
def test_an_api_request_reads_its_headers_through_them(user, settings):
    """The consume's key, its token and CORS's Origin, read from the request's headers."""
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    grant(user, 10)
    client = client_for(user)

    response = client.post(
        "/api/v1/user/tokens/consume",
        {"amount": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="headers-1",
        HTTP_ORIGIN="https://app.example.com",
    )
    replayed = client.post(
        "/api/v1/user/tokens/consume",
        {"amount": 1},
        format="json",
        HTTP_IDEMPOTENCY_KEY="headers-1",
    )

    assert response.status_code == 201
    assert response.wsgi_request.headers.__class__ is RequestHeaders
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert (replayed.status_code, replayed["Idempotent-Replayed"]) == (201, "true")
    assert replayed.json() == response.json()
    assert "Access-Control-Allow-Origin" not in replayed
