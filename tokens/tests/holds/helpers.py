"""What this package's hold test modules share."""

from datetime import UTC, datetime

from tokens import selectors

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


HOLDS = "/api/v1/user/holds"


def hold(client, body, key="h1"):
    return client.post(HOLDS, body, HTTP_IDEMPOTENCY_KEY=key)


def available(user) -> int:
    return selectors.token_balance(user_id=user.pk).available
