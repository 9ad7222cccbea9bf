"""What lets the customer's side be reached: CORS for an SPA on another origin, and `make run`
pointing SITE_URL at where it really listens."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPA = "https://app.example.com"


def preflight(client, origin: str, path: str = "/api/v1/user/checkout"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(client, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []

    response = preflight(client, SPA)

    assert "access-control-allow-origin" not in response.headers


@pytest.mark.django_db
def test_an_allowed_origin_passes_the_preflight_with_the_apis_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [SPA]

    response = preflight(client, SPA)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.django_db
def test_an_allowed_origin_reads_the_answer_and_its_request_id(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [SPA]

    response = client.get("/api/v1/token-bundles", HTTP_ORIGIN=SPA)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]


@pytest.mark.django_db
def test_an_allowed_origin_reads_that_an_answer_is_a_replay(settings, user):
    """An SPA that retries a consume after a dropped connection must be able to tell the
    first answer given again from new work: `Idempotent-Replayed` was sent but not exposed,
    so the browser hid it from the SPA's script."""
    from conftest import client_for
    from tokens.selectors import token_balance
    from tokens.tests.factories import fund

    settings.CORS_ALLOWED_ORIGINS = [SPA]
    fund(user, 10)
    spa = client_for(user)

    def consume():
        return spa.post(
            "/api/v1/user/tokens/consume",
            {"amount": 3},
            format="json",
            HTTP_ORIGIN=SPA,
            HTTP_IDEMPOTENCY_KEY="retry-1",
        )

    first, again = consume(), consume()

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    exposed = {h.strip().lower() for h in again.headers["access-control-expose-headers"].split(",")}
    assert "idempotent-replayed" in exposed
    assert token_balance(user_id=user.pk).balance == 7  # consumed once


@pytest.mark.django_db
def test_an_allowed_origin_revalidates_the_catalog_with_its_etag(client, settings):
    """The listings answer an ETag and a 304 to If-None-Match, but the SPA could neither read
    the ETag (not exposed) nor send If-None-Match (the preflight refused it): a cross-origin
    SPA fetched every listing whole each time."""
    settings.CORS_ALLOWED_ORIGINS = [SPA]
    first = client.get("/api/v1/token-bundles", HTTP_ORIGIN=SPA)
    exposed = {h.strip().lower() for h in first.headers["access-control-expose-headers"].split(",")}

    asked = client.options(
        "/api/v1/token-bundles",
        HTTP_ORIGIN=SPA,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match",
    )
    again = client.get(
        "/api/v1/token-bundles", HTTP_ORIGIN=SPA, HTTP_IF_NONE_MATCH=first.headers["ETag"]
    )

    assert "etag" in exposed
    allowed = {h.strip().lower() for h in asked.headers["access-control-allow-headers"].split(",")}
    assert "if-none-match" in allowed
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == SPA


@pytest.mark.django_db
def test_other_origins_and_the_pages_get_no_cors_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = [SPA]

    stranger = preflight(client, "https://evil.example.com")
    page = client.get("/sign-in", HTTP_ORIGIN=SPA)

    assert "access-control-allow-origin" not in stranger.headers
    assert "access-control-allow-origin" not in page.headers


@pytest.fixture
def fake_python(tmp_path):
    """`make run` with a stand-in for the virtualenv's python that records what it was given."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".base-installed").touch()
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "$SITE_URL $*" >> "$(dirname "$0")/calls"\n')
    python.chmod(0o755)
    return tmp_path


def make_run(fake_python: Path, *args: str, env: dict | None = None) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "MAKEFLAGS"}}
    subprocess.run(
        [
            shutil.which("make"),
            "-s",
            "run",
            f"VENV={fake_python / 'venv'}",
            f"PYTHON={fake_python / 'python'}",
            *args,
        ],
        cwd=ROOT,
        env={**environment, **(env or {})},
        check=True,
        timeout=60,
    )
    return (fake_python / "calls").read_text().splitlines()


def test_make_run_sets_site_url_from_host_and_port(fake_python):
    calls = make_run(fake_python, "HOST=127.0.0.2", "PORT=8123")
    # The worker starts in the background beside the server: whether it records its call
    # before `make` stops it is a race, and where in the list it lands too.
    worker = [call for call in calls if call.endswith("manage.py worker")]

    assert worker in ([], ["http://127.0.0.2:8123 manage.py worker"])
    assert [call for call in calls if call not in worker] == [
        "http://127.0.0.2:8123 manage.py migrate --noinput",
        "http://127.0.0.2:8123 manage.py seed_demo",
        "http://127.0.0.2:8123 manage.py seed_demo_history",
        "http://127.0.0.2:8123 manage.py runserver 127.0.0.2:8123",
    ]


def test_make_run_keeps_a_site_url_that_was_set(fake_python):
    calls = make_run(fake_python, "PORT=8123", env={"SITE_URL": "https://billing.example.com"})

    assert {call.split()[0] for call in calls} == {"https://billing.example.com"}
