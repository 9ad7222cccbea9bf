"""Rate limits hold across processes: three gunicorn processes count into one Redis.

Real redis-server and gunicorn processes (one worker each, so each has its own memory), on
the test database, with THROTTLE_AUTH=10/minute; logins go to the three in turn.
"""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.tests.factories import UserFactory
from common.tests.helpers import database_state
from common.tests.servers import gunicorn, redis_server, the_test_database

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-password-1"
LOGIN = "/api/v1/auth/login"


@contextmanager
def three_processes(**environment):
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                gunicorn(
                    database=the_test_database(),
                    workers=1,
                    THROTTLE_AUTH="10/minute",
                    **environment,
                )
            )
            for _ in range(3)
        ]


@pytest.fixture
def email():
    user = UserFactory()
    # A hash the servers' default hasher checks quickly (few iterations), so eleven logins
    # take no seconds.
    user.password = PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    return user.email


def logins(servers, email, count):
    return [
        servers[index % len(servers)].call("POST", LOGIN, {"email": email, "password": PASSWORD})
        for index in range(count)
    ]


def within_one_window():
    """The limit counts per calendar minute: start early in one, so eleven logins share it."""
    into_the_minute = time.time() % 60
    if into_the_minute > 45:
        time.sleep(60 - into_the_minute)


def test_three_processes_with_redis_let_exactly_10_logins_through_then_429(email):
    with redis_server() as redis, three_processes(REDIS_URL=redis.url) as servers:
        within_one_window()

        answers = logins(servers, email, 11)
        before = database_state()
        sign_up = servers[2].call(
            "POST", "/api/v1/auth/register", {"email": "new@example.com", "password": PASSWORD}
        )

    assert [status for status, _, _ in answers] == [200] * 10 + [429]
    _, headers, body = answers[-1]
    assert body["code"] == "throttled"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert sign_up[0] == 429
    assert database_state() == before


def test_without_redis_each_process_counts_alone_so_the_limit_multiplies(email):
    """Control: the same setup without a shared cache lets more than 10 through."""
    with three_processes() as servers:
        within_one_window()

        answers = logins(servers, email, 11)

    assert [status for status, _, _ in answers] == [200] * 11


def test_when_redis_goes_away_the_api_answers_unthrottled_and_health_says_so(email):
    with redis_server() as redis, three_processes(REDIS_URL=redis.url) as servers:
        assert servers[0].call("GET", "/health")[2] == {
            "status": "ok",
            "database": "ok",
            "cache": "ok",
        }
        redis.stop()

        answers = logins(servers, email, 12)
        health = servers[0].call("GET", "/health")
        outputs = [server.output() for server in servers]

    assert [status for status, _, _ in answers] == [200] * 12
    assert health[0] == 200
    assert health[2] == {"status": "degraded", "database": "ok", "cache": "error"}
    assert [output.count("rate limits are off") for output in outputs] == [1, 1, 1]
