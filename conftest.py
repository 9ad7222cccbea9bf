"""Fixtures every app's tests share."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import verified_tokens
from accounts.tests.factories import UserFactory
from billing.tests.fake_stripe import FakeStripe
from common.tests.servers import pgbouncer


def pytest_generate_tests(metafunc):
    """Tests marked `through_pgbouncer` run twice on PostgreSQL: straight to it, and through a
    PgBouncer in transaction pooling in front of the same test database. On SQLite there is
    no pooler to go through: they run once, straight to the file."""
    if metafunc.definition.get_closest_marker("through_pgbouncer"):
        routes = ["direct"] if connection.vendor == "sqlite" else ["direct", "pgbouncer"]
        metafunc.parametrize("_database_route", routes, indirect=True)


@pytest.fixture(scope="session")
def _pgbouncer(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), pgbouncer() as through:
        yield through


@pytest.fixture(autouse=True)
def _database_route(request):
    """Points this thread's and every new thread's connections at PgBouncer, with what the
    settings turn off behind it (DB_TRANSACTION_POOLING), for the test's duration."""
    if getattr(request, "param", "direct") == "direct":
        yield
        return
    through = request.getfixturevalue("_pgbouncer")
    database = connection.settings_dict
    assert connections.settings["default"] is database, "new threads would not be routed"
    saved = {
        name: database.get(name)
        for name in ("PORT", "DISABLE_SERVER_SIDE_CURSORS", "TRANSACTION_POOLING")
    }
    connection.close()
    database.update(
        PORT=str(through["port"]), DISABLE_SERVER_SIDE_CURSORS=True, TRANSACTION_POOLING=True
    )
    yield
    connection.close()
    database.update(saved)


@pytest.fixture(autouse=True)
def _sqlite_flush_past_the_ledgers_triggers(request):
    """A test that commits (real threads, a live server) is emptied by Django's flush, which
    on SQLite DELETEs every row; the ledger's triggers refuse that, as they must refuse it of
    anyone. So on SQLite, once such a test is over, its rows are flushed with the triggers
    lifted, and the triggers are put back exactly as the migrations wrote them (PostgreSQL's
    flush is a TRUNCATE, which row triggers do not see)."""
    marker = request.node.get_closest_marker("django_db")
    commits = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if connection.vendor != "sqlite" or not commits:
        yield
        return
    request.getfixturevalue("_django_db_helper")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        triggers = cursor.fetchall()
        for name, _sql in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
    try:
        call_command("flush", interactive=False, verbosity=0)
    finally:
        with connection.cursor() as cursor:
            for _name, sql in triggers:
                cursor.execute(sql)


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Fast hashing, plain static files, throttling counters that start at zero, and no
    access token known as verified from an earlier test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cache.clear()
    verified_tokens.clear()
    yield
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


class SignedInClient(APIClient):
    """An API client that signs each request with an access token issued for `user` at that
    moment, as an SPA that refreshes its token would: tests that move the clock past an
    access token's short life still call as a signed-in user."""

    def __init__(self, user, **defaults) -> None:
        super().__init__(**defaults)
        self.user = user

    def request(self, **request):
        request.setdefault("HTTP_AUTHORIZATION", f"Bearer {AccessToken.for_user(self.user)}")
        return super().request(**request)


def client_for(user) -> APIClient:
    """An API client carrying a real access token for `user`."""
    return SignedInClient(user)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_browser(client, staff_user):
    """The Django test client signed in as a superuser, for admin pages."""
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


@pytest.fixture
def user_client(user) -> APIClient:
    return client_for(user)


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    return client_for(staff_user)


@pytest.fixture
def fake_stripe(settings):
    """Stripe's API faked on loopback; the app's real SDK is pointed at it."""
    server = FakeStripe(webhook_secret=settings.STRIPE_WEBHOOK_SECRET).start()
    settings.STRIPE_API_BASE = server.base
    # Its checkout page is on the same address; the pages' form-action allows it.
    settings.STRIPE_CHECKOUT_ORIGIN = server.base
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    yield server
    server.stop()


def service_client(secret: str) -> APIClient:
    """An API client that sends a service API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api_key(db):
    """A live service key and its secret (`.secret`)."""
    from accounts.services import api_key_create

    return api_key_create(name="seller backend", actor_id=None)


@pytest.fixture
def service(api_key) -> APIClient:
    return service_client(api_key.secret)


@pytest.fixture
def one_window(monkeypatch):
    """Every request in the same window of the rate limits (fixed windows: a count restarts
    at each window's start), so a test of a limit cannot cross a minute and see its count
    restart: one run in about a hundred did (an admin password page's third guess got 302)."""
    from common.api.throttling import FixedWindowRateThrottle

    monkeypatch.setattr(FixedWindowRateThrottle, "timer", lambda self: 1_800_000_000.0)
