"""`common.api.answers`: the hot reads' headers answer `in` and `get` exactly as Django's
own response headers do, and the middleware still add what they add to those answers."""

import pytest
from django.http.response import ResponseHeaders
from hypothesis import given
from hypothesis import strategies as st

from catalog.tests.factories import TokenBundleFactory
from common.api.answers import JsonAnswer, LookedUpHeaders
from conftest import client_for
from tokens.tests.factories import grant

NAMES = ["Content-Type", "ETag", "Vary", "Cache-Control", "X-Frame-Options", "Allow"]
NEVER_SET = ["Content-Length", "Referrer-Policy"]


def any_case(names: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(names).flatmap(
        lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
            lambda upper: "".join(
                c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)
            )
        )
    )


header_sets = st.dictionaries(any_case(NAMES), st.text("abc ,;=", max_size=8), max_size=4)


@given(
    headers=header_sets,
    asked=any_case(NAMES + NEVER_SET),
    default=st.sampled_from([None, "", "fallback"]),
)
def test_in_and_get_are_djangos(headers, asked, default):
    djangos = ResponseHeaders(headers)
    ours = LookedUpHeaders.of(ResponseHeaders(headers))

    assert (asked in ours) is (asked in djangos)
    assert ours.get(asked) == djangos.get(asked)
    assert ours.get(asked, default) == djangos.get(asked, default)
    assert dict(ours.items()) == dict(djangos.items())


def test_a_key_that_is_not_text_fails_as_in_djangos():
    for headers in (LookedUpHeaders({"ETag": '"a"'}), ResponseHeaders({"ETag": '"a"'})):
        with pytest.raises(AttributeError):
            _ = 1 in headers
        with pytest.raises(AttributeError):
            headers.get(1)


def test_an_answer_keeps_its_content_type_and_body():
    answer = JsonAnswer(b'{"ok": true}')

    assert type(answer.headers) is LookedUpHeaders
    assert answer["Content-Type"] == "application/json"
    assert answer.content == b'{"ok": true}'


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.django_db
def test_the_listing_carries_every_header_the_middleware_add(api_client):
    TokenBundleFactory(name="Small", token_amount=10)
    response = api_client.get("/api/v1/token-bundles")

    assert response.status_code == 200
    assert {name: response[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert response["Content-Length"] == str(len(response.content))
    assert response["Vary"] == "origin"
    assert response["Cache-Control"] == "public, no-cache"


@pytest.mark.django_db
def test_the_balance_carries_every_header_the_middleware_add(user):
    grant(user, 25)
    response = client_for(user).get("/api/v1/user/tokens/balance")

    assert response.status_code == 200
    assert {name: response[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert response["Content-Length"] == str(len(response.content))
    assert response["Cache-Control"] == "private, no-store"
