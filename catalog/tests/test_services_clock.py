"""Every catalog write stamps `updated_at` with the application's clock."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from catalog import services
from catalog.models import TokenBundle
from catalog.tests.factories import TokenBundleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

AT = datetime(2026, 1, 12, 10, 0, 0, 123456, tzinfo=UTC)


def test_bulk_deactivation_stamps_the_time_every_other_write_does():
    """It stamped the database's clock (Now()): a test's injected time, or an application
    host whose clock is not the database's, saw a deactivation dated before the edit that
    preceded it; on SQLite to the millisecond where other writes keep microseconds."""
    bundle = TokenBundleFactory()

    with time_machine.travel(AT, tick=False):
        services.catalog_item_update(model=TokenBundle, item_id=bundle.pk, data={"name": "New"})
        edited = TokenBundle.objects.get(pk=bundle.pk).updated_at
        services.catalog_items_set_active(queryset=TokenBundle.objects.all(), active=False)
    deactivated = TokenBundle.objects.get(pk=bundle.pk).updated_at

    assert (edited, deactivated) == (AT, AT), connection.vendor
