"""What the operator's log says when something the service leans on fails: one line per
incident at the level it deserves, no traceback for an outage the log line already names."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from config.caches import cache_settings

pytestmark = pytest.mark.django_db

NOTHING_LISTENS = "redis://127.0.0.1:1/0"


def test_a_health_probe_while_redis_is_down_logs_one_line(caplog):
    """Load balancers probe every few seconds: a traceback of some forty lines at each probe
    buried the rest of the log for as long as Redis was away. (The cache is put back before
    the suite's own fixture clears it.)"""
    with override_settings(REDIS_URL=NOTHING_LISTENS, CACHES=cache_settings(NOTHING_LISTENS)):
        caplog.clear()
        response = Client().get("/health")
        lines = [record for record in caplog.records if record.name != "access"]

    assert response.json() == {"status": "degraded", "database": "ok", "cache": "error"}
    assert [(line.levelname, line.exc_info or line.exc_text) for line in lines] == [
        ("WARNING", None)
    ]
    assert "Connection refused" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()
