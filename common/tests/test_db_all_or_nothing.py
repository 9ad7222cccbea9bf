"""`common.db.all_or_nothing`: writes inside it skip their savepoints, so whether code runs
inside one must be right when nested, after it ends, and after it fails."""

import pytest

from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory
from common.db import all_or_nothing, in_all_or_nothing

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def test_nested_ones_leave_the_outer_one_running_and_the_last_one_ends_it():
    seen = [in_all_or_nothing()]

    with all_or_nothing():
        seen.append(in_all_or_nothing())
        with all_or_nothing():
            seen.append(in_all_or_nothing())
        seen.append(in_all_or_nothing())
    seen.append(in_all_or_nothing())

    assert seen == [False, True, True, True, False]


def _write_and_fail() -> None:
    with all_or_nothing():
        TokenBundleFactory()
        raise RuntimeError("refused")


def test_a_failure_inside_rolls_its_writes_back_and_ends_it():
    before = TokenBundle.objects.count()

    with pytest.raises(RuntimeError):
        _write_and_fail()

    assert not in_all_or_nothing()
    assert TokenBundle.objects.count() == before
