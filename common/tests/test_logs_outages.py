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


@pytest.mark.urls("common.tests.urls_faults")
def test_an_unexpected_exception_under_the_api_is_one_error_line(caplog):
    """One incident, one ERROR (with its traceback): Django's "Internal Server Error" line
    about the same 500 came besides, and an alert counting errors counted each crash twice."""
    caplog.clear()
    response = Client(raise_request_exception=False).get("/api/v1/explode")
    errors = [record for record in caplog.records if record.levelname == "ERROR"]

    assert response.status_code == 500
    assert [(line.name, bool(line.exc_info or line.exc_text)) for line in errors] == [
        ("common.api", True)
    ]
