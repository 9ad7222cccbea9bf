"""Fixtures shared by this package's test modules."""

import pytest
import time_machine

from tokens.tests.api_lots.helpers import NOW


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
