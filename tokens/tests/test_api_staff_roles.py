"""Staff roles in the tokens API: adjusting, granting, voiding, refunding usage, recording
usage and settling holds for a user move tokens, so they need what the admin's Adjust, Grant
and Void need (tokens.change_tokenaccount). A support agent given view permissions only did
all of them through the staff API with their own token."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory, staff_in_role
from common.tests.helpers import database_state
from conftest import client_for
from tokens import services
from tokens.ledger import Work
from tokens.tests.factories import fund, grant

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

VIEWER = ("tokens.view_tokenaccount", "tokens.view_tokenlot", "tokens.view_tokentransaction")


@pytest.fixture
def targets(user) -> dict:
    """The user's tokens and what staff may act on: a lot, two usages and a hold."""
    fund(user, 100)

    def use(key: str):
        work = Work(amount=5, usage_key=key, entry_key=f"usage:{key}")
        return services.usage_record(user_id=user.pk, work=work).usage

    return {
        "lot": grant(user, 50),
        "usage": use("u:1"),
        "other_usage": use("u:2"),
        "hold": services.hold_create(user_id=user.pk, amount=10, idempotency_key="h:1").hold,
    }


def every_token_change(client, user, targets: dict) -> list[tuple[int, str | None]]:
    """Each staff operation that moves the user's tokens, once, as `client`."""
    on_user, hold = f"/api/v1/users/{user.pk}", targets["hold"]
    answers = [
        client.post(f"/api/v1/admin/users/{user.pk}/tokens/adjust", {"amount": 9, "reason": "x"}),
        client.post(f"/api/v1/admin/users/{user.pk}/tokens/grants", {"amount": 9, "reason": "x"}),
        client.post(f"/api/v1/admin/lots/{targets['lot'].pk}/void", {"reason": "x"}),
        client.post(f"/api/v1/admin/token-transactions/{targets['usage'].entry_id}/refund"),
        client.post(f"{on_user}/usage", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="use"),
        client.post(f"{on_user}/usage/{targets['other_usage'].pk}/refund"),
        client.post(f"{on_user}/holds", {"amount": 1}, HTTP_IDEMPOTENCY_KEY="hold"),
        client.post(
            f"{on_user}/holds/{hold.pk}/capture",
            {"amount": 1, "final": False},
            HTTP_IDEMPOTENCY_KEY="capture",
        ),
        client.post(f"{on_user}/holds/{hold.pk}/release"),
    ]
    return [(answer.status_code, answer.json().get("code")) for answer in answers]


def test_staff_whose_role_is_view_only_move_no_tokens(user, targets):
    agent = client_for(staff_in_role(*VIEWER))
    before = database_state()

    answers = every_token_change(agent, user, targets)

    assert answers == [(403, "permission_denied")] * 9
    assert database_state() == before
    assert agent.get(f"/api/v1/users/{user.pk}/holds").status_code == 200


@pytest.mark.parametrize(
    "staff",
    [
        lambda: staff_in_role("tokens.view_tokenaccount", "tokens.change_tokenaccount"),
        lambda: UserFactory(is_staff=True),  # no role at all: the contract's staff
        lambda: UserFactory(is_staff=True, is_superuser=True),
    ],
    ids=["role with change_tokenaccount", "staff without a role", "superuser"],
)
def test_staff_who_may_change_token_accounts_move_tokens(user, targets, staff):
    answers = every_token_change(client_for(staff()), user, targets)

    assert [status for status, _ in answers] == [201, 201, 200, 201, 201, 200, 201, 200, 200]
