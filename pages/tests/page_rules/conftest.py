"""Fixtures shared by this package's test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def browser(client, user):
    """Signed in; a view that raises answers its 500 page instead of failing the test."""
    client.force_login(user)
    client.raise_request_exception = False
    return client
