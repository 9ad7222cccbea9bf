"""Fixtures several of catalog's test modules share."""

import pytest

from catalog.tests.api_staff_helpers import KINDS


@pytest.fixture(params=list(KINDS))
def kind(request):
    return request.param
