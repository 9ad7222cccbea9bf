"""Settings come from the environment; production settings pass Django's deploy check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k4#v9!zq2@w8e7r6t5y4u3i2o1p0-a9s8d7f6g5h4j3k2l1;z0x9c8v7b6n5m4",
    "ALLOWED_HOSTS": "billing.example.com",
    "SITE_URL": "https://billing.example.com",
    "DATABASE_URL": "postgres://app@db.example.com:5432/billing",
}


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECURE_SSL_REDIRECT", "SECURE_COOKIES", "DEBUG", "SECRET_KEY"}
    }
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_warns_while_test_payments_are_on():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, PAYMENTS_TEST_MODE="1"
    )

    assert result.returncode != 0
    assert "(billing.W001) PAYMENTS_TEST_MODE is on" in result.stderr + result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    environment = {**PRODUCTION, "SECRET_KEY": ""}

    result = manage("check", **environment)

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "perhaps"),
        ("CONN_MAX_AGE", "long"),
        ("DB_LOCK_TIMEOUT", "soon"),
        ("DB_STATEMENT_TIMEOUT", "-1"),
        # Each started the service and then broke every request (or sign-up) it reached.
        ("THROTTLE_ANON", "300"),
        ("THROTTLE_USER", "300/fortnight"),
        ("THROTTLE_SERVICE", "12000"),
        ("THROTTLE_AUTH", "many/minute"),
        ("THROTTLE_REFRESH", "0/minute"),
        ("THROTTLE_INVALID_REFRESH", "60/week"),
        ("TRIAL_DAYS", "99999999999"),
        ("TRIAL_DAYS", "0"),
        ("WEBHOOK_LEASE_SECONDS", "0"),
        ("LOW_BALANCE_THRESHOLD", "-1"),
        ("TRUSTED_PROXY_COUNT", "-1"),
        ("TRUSTED_PROXY_NETWORKS", "proxy.internal"),
        ("TRUSTED_PROXY_NETWORKS", "10.0.0.1/8"),
        # Started, then every request was a 500: redis-py parses the address at first use.
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "redis://cache:port/0"),
        ("REDIS_URL", "redis://cache-1:6379/0,cache-2:6379/0"),
        # Started, then every Stripe checkout was refused (502) for its return address.
        ("SITE_URL", "billing.example.com"),
        ("SITE_URL", "https://billing.example.com:443x"),
        ("SITE_URL", "https://billing.example.com/billing"),
        ("STRIPE_API_BASE", "api.stripe.com"),
        ("STRIPE_CHECKOUT_ORIGIN", "checkout.stripe.com"),
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "plain"),
        # The first migrate failed on the currency's CHECK constraint.
        ("DEFAULT_CURRENCY", "EURO"),
        # Created with 2 places: prices and charges off by a factor of ten.
        ("DEFAULT_CURRENCY", "KWD"),
    ],
)
def test_malformed_settings_are_refused_with_their_name(name, value):
    result = manage("check", **{**PRODUCTION, name: value})

    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize(
    ("name", "value"), [("CONN_MAX_AGE", "long"), ("DB_TRANSACTION_POOLING", "perhaps")]
)
def test_database_settings_are_checked_on_sqlite_too(name, value):
    """They apply to PostgreSQL only; ignored on SQLite, a bad value lay in wait for the day
    DATABASE_URL was set, when the service refused to start for it."""
    result = manage("check", DEBUG="1", DATABASE_URL="", **{name: value})

    assert result.returncode != 0
    assert f"{name} must be" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "localhost:5432/billing",
        "postgres://billing:s3cret-pw@db:port/billing",
        "mysql://billing:s3cret-pw@db:3306/billing",
    ],
)
def test_a_database_url_the_service_cannot_use_is_refused_naming_it(url):
    """A URL without a scheme or with a bad port stopped the start with dj_database_url's
    traceback, which named no variable; one of another database was taken as PostgreSQL's."""
    result = manage("check", **{**PRODUCTION, "DATABASE_URL": url})

    assert result.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL must be" in result.stderr
    assert "s3cret-pw" not in result.stderr


def test_without_database_url_it_uses_sqlite_with_immediate_transactions():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['OPTIONS']['transaction_mode'])",
        DEBUG="1",
        DATABASE_URL="",
    )

    assert result.stdout.split()[-2:] == ["django.db.backends.sqlite3", "IMMEDIATE"]


def test_the_database_timeouts_come_from_the_environment_in_milliseconds():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['TIMEOUTS']['lock_timeout'], d['TIMEOUTS']['statement_timeout'])",
        **PRODUCTION,
        DB_LOCK_TIMEOUT="0.5",
        DB_STATEMENT_TIMEOUT="20",
    )

    assert result.stdout.split()[-3:] == ["common.postgresql", "500", "20000"]


def test_on_sqlite_the_lock_timeout_is_the_busy_timeout():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['OPTIONS']['timeout'])",
        DEBUG="1",
        DATABASE_URL="",
        DB_LOCK_TIMEOUT="2",
    )

    assert result.stdout.split()[-1] == "2.0"


def test_every_wait_ends_before_gunicorn_kills_the_worker(settings):
    """Innermost first: a lock wait, a statement, a Stripe call with its one retry, all end
    before gunicorn's worker timeout, so a request always answers (README: Timeouts)."""
    from billing import stripe_gateway
    from config import gunicorn

    stripe_worst = (
        stripe_gateway.REQUEST_TIMEOUT_SECONDS * (1 + stripe_gateway.MAX_NETWORK_RETRIES)
        + stripe_gateway.MAX_RETRY_DELAY_SECONDS
    )

    assert 0 < settings.DB_LOCK_TIMEOUT < settings.DB_STATEMENT_TIMEOUT < gunicorn.timeout
    assert stripe_worst < gunicorn.timeout


def test_several_redis_addresses_are_accepted():
    """Django's Redis cache writes to the first and reads from the others."""
    result = manage(
        "check", **PRODUCTION, REDIS_URL="redis://cache-1:6379/0, rediss://:pw@cache-2:6380/1"
    )

    assert result.returncode == 0, result.stderr


GUNICORN = ["--config", "config/gunicorn.py", "config.wsgi"]


def gunicorn_check(**environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOG_")}
    env.update(PRODUCTION, **environment)
    return subprocess.run(
        [sys.executable, "-m", "config.serve", "--check-config", *GUNICORN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("level", ["debug", "Warning", " ERROR "])
def test_a_log_level_is_read_in_any_case(level):
    """`LOG_LEVEL=debug` stopped both the service and gunicorn with "Unable to configure
    logger 'django'", which names neither the variable nor its values."""
    assert manage("check", **PRODUCTION, LOG_LEVEL=level).returncode == 0
    assert gunicorn_check(LOG_LEVEL=level).returncode == 0


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "loud"), ("LOG_FORMAT", "plain")])
def test_gunicorn_refuses_a_malformed_log_setting_with_its_name(name, value):
    result = gunicorn_check(**{name: value})

    assert result.returncode != 0
    assert f"{name} must be" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # gunicorn's own modules read it with int() before any config file: a traceback.
        ("WEB_CONCURRENCY", "auto"),
        ("WEB_CONCURRENCY", "2.5"),
        # Started an arbiter with no worker, answering nothing.
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "-1"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1,proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "192.168.1.1/24"),
    ],
)
def test_gunicorn_refuses_a_malformed_server_setting_with_its_name(name, value):
    result = gunicorn_check(**{name: value})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {name} must be"), (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_an_empty_server_setting_is_its_default():
    """As every other setting's: an empty FORWARDED_ALLOW_IPS trusted no proxy at all, and
    an empty WEB_CONCURRENCY stopped gunicorn with a traceback."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOG_")}
    env.update(PRODUCTION, WEB_CONCURRENCY="", FORWARDED_ALLOW_IPS="")
    result = subprocess.run(
        [sys.executable, "-m", "config.serve", "--print-config", *GUNICORN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    printed = dict(
        [part.strip() for part in line.split("=", 1)]
        for line in result.stdout.splitlines()
        if "=" in line
    )

    assert result.returncode == 0, result.stderr
    assert printed["forwarded_allow_ips"] == "['127.0.0.1']"
    assert printed["workers"] == str(os.cpu_count() * 2 + 1)
