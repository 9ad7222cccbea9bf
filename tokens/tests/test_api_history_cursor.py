import base64

import pytest

from tokens.tests.history_helpers import HISTORY

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


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
