"""`common.api.negotiation`: the renderer remembered per Accept header is the one DRF would
choose, a header nothing satisfies is refused every time, and what is remembered is bounded."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from billing.api.receipts import PdfRenderer
from common.api import negotiation
from common.api.negotiation import REMEMBERED_HEADERS, RememberedNegotiation

RENDERER_SETS = [[JSONRenderer], [JSONRenderer, PdfRenderer], [PdfRenderer, JSONRenderer]]

media_ranges = st.builds(
    "{}{}".format,
    st.sampled_from(
        ["application/json", "application/pdf", "text/html", "*/*", "application/*", "text/*"]
    ),
    st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";indent=4", "; charset=utf-8"]),
)
accept_headers = st.lists(media_ranges, min_size=1, max_size=4).map(", ".join)


@pytest.fixture(autouse=True)
def nothing_remembered():
    negotiation._choices.clear()
    yield
    negotiation._choices.clear()


def request_accepting(accept: str | None) -> Request:
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get("/api/v1/user/tokens/balance", **extra))


def choice(negotiator, accept: str | None, renderer_classes: list[type]) -> tuple:
    renderers = [renderer() for renderer in renderer_classes]
    try:
        renderer, media_type = negotiator.select_renderer(request_accepting(accept), renderers)
    except NotAcceptable:
        return ("406",)
    assert renderer in renderers
    return type(renderer), media_type


@settings(max_examples=300, deadline=None)
@given(accept=accept_headers | st.none(), renderer_classes=st.sampled_from(RENDERER_SETS))
def test_the_choice_is_drfs_the_first_time_and_every_time_after(accept, renderer_classes):
    drfs = choice(DefaultContentNegotiation(), accept, renderer_classes)
    remembered = RememberedNegotiation()

    assert choice(remembered, accept, renderer_classes) == drfs
    assert choice(remembered, accept, renderer_classes) == drfs


def test_a_header_remembered_for_one_view_does_not_decide_for_another():
    remembered = RememberedNegotiation()

    assert choice(remembered, "application/pdf", [JSONRenderer, PdfRenderer])[0] is PdfRenderer
    assert choice(remembered, "application/pdf", [JSONRenderer]) == ("406",)


def test_what_is_remembered_stays_bounded_whatever_clients_send():
    remembered = RememberedNegotiation()

    for number in range(REMEMBERED_HEADERS + 50):
        assert choice(remembered, f"application/json; n={number}", [JSONRenderer]) == (
            JSONRenderer,
            f"application/json; n={number}",
        )

    assert len(negotiation._choices) == REMEMBERED_HEADERS


@pytest.mark.django_db
def test_the_api_refuses_an_unsatisfiable_header_each_time_it_is_sent(user_client):
    for _ in range(2):
        refused = user_client.get("/api/v1/user/tokens/balance", HTTP_ACCEPT="text/html")
        assert refused.status_code == 406
        assert refused.json()["code"] == "not_acceptable"

    indented = user_client.get(
        "/api/v1/user/tokens/balance", HTTP_ACCEPT="application/json; indent=4"
    )
    assert indented.status_code == 200
    assert indented.content.startswith(b'{\n    "')


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["", " ", " , "])
def test_an_empty_accept_header_is_answered_as_a_missing_one(user_client, accept):
    answered = user_client.get("/api/v1/user/tokens/balance", HTTP_ACCEPT=accept)

    assert answered.status_code == 200
    assert answered["Content-Type"] == "application/json"
    assert answered.json()["balance"] == 0
