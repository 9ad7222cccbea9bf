"""The webhook session: it connects only to addresses checked in the resolution it connects
by (DNS rebinding), and an answer must end by the deadline however slowly it is sent."""

import socket
import threading
import time

import pytest

from events.dispatch import BACKOFF, delivery_record, delivery_send
from events.tests.transport.helpers import HOST, NOW, PUBLIC, pending_delivery
from events.transport import webhook_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("hangs_at", "error"),
    [
        ("check", f"Not sent: The host {HOST} did not resolve within 0.2 seconds."),
        ("connection", "ConnectTimeout after 0.2 s"),
    ],
    ids=["the check", "the connection"],
)
def test_a_name_server_that_does_not_answer_is_a_failed_attempt_retried_later(
    settings, monkeypatch, hangs_at, error
):
    """A delivery resolves its endpoint's name twice: the check before the attempt
    (url_refusal) and the connection's own (events.transport). Each called getaddrinfo with
    no bound but the system resolver's own, so a name server that does not answer held a
    sending thread past the attempt's deadline. Here it does not answer until the test
    ends: the attempt gives up at its deadline and is retried, as after a connect timeout."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [PUBLIC])
    delivery = pending_delivery(f"https://{HOST}/hooks")
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.2)
    answer, gave_up = threading.Event(), threading.Event()
    asked = []

    def name_server(host, port):
        asked.append(host)
        if hangs_at == "check" or len(asked) > 1:
            answer.wait(10)
            gave_up.set()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [PUBLIC]

    monkeypatch.setattr("events.addresses.resolve", name_server)

    try:
        outcome = delivery_send(delivery, now=NOW, session=webhook_session())
        still_resolving = not gave_up.is_set()
    finally:
        answer.set()
    delivery_record(delivery.pk, outcome, now=NOW)

    # The attempt ended while the name server was still being waited for.
    assert still_resolving
    assert (outcome.status_code, outcome.error) == (None, error)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "pending",
        1,
        NOW + BACKOFF[0],
    )


def test_a_slow_name_server_leaves_the_connection_only_what_is_left_of_the_attempt(
    settings, monkeypatch
):
    """The connection's resolution was bounded by the connect timeout, and the connect that
    followed had a whole connect timeout again: a name server answering just in time and an
    endpoint that never accepts held the attempt for twice its time."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    monkeypatch.setattr("events.addresses.resolve", lambda host, port: [PUBLIC])
    delivery = pending_delivery(f"https://{HOST}/hooks")
    monkeypatch.setattr("events.dispatch.sending.TIMEOUT_SECONDS", 0.5)
    asked = []

    def name_server(host, port):
        asked.append(host)
        if len(asked) > 1:
            time.sleep(0.4)
        return [PUBLIC]

    def never_accepted(address, timeout, **kwargs):
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr("events.addresses.resolve", name_server)
    monkeypatch.setattr("events.transport.create_connection", never_accepted)
    started = time.monotonic()

    outcome = delivery_send(delivery, now=NOW, session=webhook_session())

    assert (outcome.status_code, outcome.error) == (None, "ConnectTimeout after 0.5 s")
    assert len(asked) == 2
    assert time.monotonic() - started < 0.7
