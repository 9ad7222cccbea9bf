"""The credentials of a URL never reach the log: psycopg repeats a DATABASE_URL it cannot
read whole, password and all, and a refused setting is quoted in its error."""

from __future__ import annotations

import io
import logging
import logging.config
import os
import socket
import subprocess
import sys
import threading

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured

from common.log import logging_settings, redact
from config.caches import cache_settings
from config.env import env_address
from events.transport import webhook_session

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PASSWORD = "hunter2-of-the-url"


def configured_handler(log_format: str) -> tuple[logging.Handler, io.StringIO]:
    """The service's handler as settings.LOGGING builds it (its filters and formatter),
    writing to a buffer."""
    config = logging_settings(log_format=log_format, level="INFO")
    configurator = logging.config.DictConfigurator(config)
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(configurator.configure_formatter(config["formatters"][log_format]))
    for name in config["handlers"]["console"]["filters"]:
        handler.addFilter(configurator.configure_filter(config["filters"][name]))
    return handler, written


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_database_url_psycopg_repeats_is_written_without_its_credentials(log_format):
    """A DATABASE_URL of a scheme libpq does not know is read as key=value pairs, and
    psycopg's error repeats it: in the message of a line that names the error, and in the
    traceback of one that carries it."""
    handler, written = configured_handler(log_format)
    logger = logging.getLogger("test.url_credentials")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            psycopg.connect(f"postgresx://billing:{PASSWORD}@127.0.0.1:1/billing")
        except psycopg.Error as error:
            logger.warning("The database did not answer: %s", error)
            logger.exception("The worker failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    output = written.getvalue()
    assert "postgresx://***@127.0.0.1:1/billing" in output
    assert "Traceback" in output or '"exc_info"' in output
    assert PASSWORD not in output


@pytest.mark.parametrize(
    "password", ["hunter2'of-the-url", 'hunter2"of-the-url', "<hunter2>", "hunter2 of-the-url"]
)
def test_a_password_with_quotes_brackets_or_spaces_is_scrubbed_whole(password):
    """Such a password is what breaks a DATABASE_URL, which psycopg then repeats (cut at its
    first space) and a refusal quotes: its head or its tail stayed in the line."""
    url = f"postgresx://billing:{password}@127.0.0.1:1/billing"
    with pytest.raises(psycopg.Error) as refused:
        psycopg.connect(url)

    lines = [redact(str(refused.value)), redact(f"DATABASE_URL={url!r} is not a URL")]

    for line in lines:
        assert "postgresx://***" in line
        for part in ["hunter2", "of-the-url"]:
            assert part not in line


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("redis://:hunter#2@10.0.0.1:6379/0 down", "redis://***@10.0.0.1:6379/0 down"),
        ("redis://worker:a/b+c=@10.0.0.1:6379/0", "redis://***@10.0.0.1:6379/0"),
        ("postgres://billing:p@ss@db:5432/billing", "postgres://***@db:5432/billing"),
        # A password with an `@` and then a `/`: Python's reading ends the user at the `/`.
        ("postgres://billing:p@ss/word@db:5432/billing", "postgres://***@db:5432/billing"),
        ("redis://:a@b#c@10.0.0.1:6379/0 down", "redis://***@10.0.0.1:6379/0 down"),
        ("https://token123@hooks.example.com/x", "https://***@hooks.example.com/x"),
        ("https://hooks.example.com/x?email=a@example.com", None),
        ("GET http://127.0.0.1:8000/api/v1/usage 200", None),
        ("redis://cache:6379 down for a@example.com", None),
        ("http://[::1]:8000/x by a@example.com", None),
    ],
)
def test_url_credentials_are_scrubbed_and_nothing_else(text, scrubbed):
    assert redact(text) == (scrubbed or text)


def test_a_refused_address_setting_is_not_quoted_with_its_credentials(monkeypatch):
    """SITE_URL with a path is refused at start, quoted in the error that gunicorn logs."""
    monkeypatch.setenv("SITE_URL", f"https://admin:{PASSWORD}@billing.example.com/app")

    with pytest.raises(ImproperlyConfigured) as refused:
        env_address("SITE_URL", "http://127.0.0.1:8000")

    assert "https://***@billing.example.com/app" in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_a_redis_url_whose_password_breaks_it_is_not_quoted_in_the_refusal():
    """A `#` in the password ends the URL's address early, and redis-py's error quoted what
    came before it as the port: the password's head."""
    with pytest.raises(ImproperlyConfigured) as refused:
        cache_settings("redis://:hunter#2@10.0.0.1:6379/0")

    assert "hunter" not in str(refused.value)
    assert "percent-encoded" in str(refused.value)


SEND_A_WEBHOOK = """
import django; django.setup()
import http.server, threading
class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
from events.transport import webhook_session
url = f"http://127.0.0.1:{server.server_port}/hook?key=SELLERS-TOKEN-1"
print(webhook_session().post(url, data=b"{}").status_code)
import logging; logging.getLogger("test").debug("DEBUG lines are written")
"""


def test_a_webhook_endpoints_query_string_is_not_logged_under_debug():
    """urllib3 wrote every request the dispatcher sent at DEBUG, path and query string: an
    endpoint's `?key=` token went to the log with LOG_LEVEL=DEBUG (in a process of its own,
    configured as the service is)."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
    }

    result = subprocess.run(
        [sys.executable, "-c", SEND_A_WEBHOOK],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.strip() == "204"
    assert "DEBUG lines are written" in result.stderr
    assert "SELLERS-TOKEN-1" not in result.stderr


def test_a_receivers_answer_urllib3_warns_of_is_logged_without_the_endpoints_path(settings):
    """urllib3 warns, at the service's every level, of an answer whose headers do not parse,
    naming the whole URL it was sent to: a receiver that answered a header line without a
    colon put its endpoint's `?key=` token (or a path that is its secret) in the log. The
    warning stays; the URL is written as its origin."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    receiver = socket.create_server(("127.0.0.1", 0))
    port = receiver.getsockname()[1]

    def answer() -> None:
        connection, _ = receiver.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 204 No Content\r\nbroken header line\r\nContent-Length: 0\r\n\r\n"
            )

    answering = threading.Thread(target=answer)
    answering.start()
    handler, written = configured_handler("json")
    logger = logging.getLogger("urllib3")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with webhook_session() as session:
            response = session.post(
                f"http://127.0.0.1:{port}/hooks/PATH-SECRET?key=SELLERS-TOKEN-2",
                data=b"{}",
                timeout=10,
            )
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        answering.join()
        receiver.close()

    output = written.getvalue()
    assert response.status_code == 204
    assert f"Failed to parse headers (url=http://127.0.0.1:{port}/" in output
    assert "SELLERS-TOKEN-2" not in output
    assert "PATH-SECRET" not in output


def test_a_long_path_of_hyphenated_words_is_read_once_not_once_per_word():
    """The access line redacts the path (up to 4 KB, anyone's): a scheme tried from every
    word of `/a-a-a-…` read the rest of the path again from each, about a second of a worker
    per request. A scheme now starts only where a run of scheme characters starts, so the
    run is read once; what it scrubs is unchanged (`-postgres://`, `x.https://`)."""
    from common.log import URL_CREDENTIALS

    text = "/a-b-c-d://u:p@h"
    for pattern, _ in URL_CREDENTIALS:
        assert pattern.match(text, 3) is None
    assert redact(text) == "/a-b-c-d://***@h"
    assert redact("see -postgres://u:pw@db") == "see -postgres://***@db"
    assert redact("x.https://u:pw@db/x") == "x.https://***@db/x"
