"""/metrics: who may read it, and that the counters an operator watches count what happened."""

import threading
from decimal import Decimal

import psycopg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from billing.tests.helpers import checkout, deliver, payment_body
from catalog.tests.factories import TokenBundleFactory
from common.tests.servers import gunicorn, the_test_database, workers_waiting_on_a_lock
from conftest import client_for
from tokens import services
from tokens.tests.factories import fund

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


def test_a_loopback_client_reads_the_text_format(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE http_requests_total counter" in response.content
    assert b"# TYPE http_request_duration_seconds histogram" in response.content


@pytest.mark.parametrize(
    ("token", "sent", "status"),
    [
        ("", "", 403),
        ("", "Bearer ", 403),
        ("s3cret-metrics", "", 403),
        ("s3cret-metrics", "Bearer wrong", 403),
        ("s3cret-metrics", "Bearer s3cret-metrics", 200),
    ],
)
def test_others_need_the_metrics_token(client, settings, token, sent, status):
    settings.METRICS_TOKEN = token
    headers = {"HTTP_AUTHORIZATION": sent} if sent else {}

    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", **headers)

    assert response.status_code == status


@pytest.mark.parametrize(("sent", "status"), [("", 403), ("Bearer s3cret-metrics", 200)])
def test_a_client_through_a_proxy_on_this_machine_is_not_a_loopback_client(
    client, settings, sent, status
):
    """Behind a proxy on the same machine (nginx to 127.0.0.1:8000) every client arrives
    from loopback, with the proxy's X-Forwarded-For: anyone on the internet read /metrics,
    METRICS_TOKEN set or not. A proxied request needs the token."""
    settings.METRICS_TOKEN = "s3cret-metrics"
    headers = {"HTTP_AUTHORIZATION": sent} if sent else {}

    response = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9", **headers
    )

    assert response.status_code == status


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST"],
    ids=["X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host"],
)
def test_a_proxy_that_sends_no_x_forwarded_for_is_not_a_loopback_client_either(
    client, settings, header
):
    """nginx's usual proxy block names the client in X-Real-IP, and a TLS proxy sends the
    X-Forwarded-Proto this service needs (SECURE_PROXY_SSL_HEADER), with no X-Forwarded-For:
    through such a proxy on this machine anyone on the internet still read /metrics."""
    settings.METRICS_TOKEN = "s3cret-metrics"
    value = {"HTTP_X_FORWARDED_PROTO": "https"}.get(header, "203.0.113.9")

    refused = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **{header: value})
    allowed = client.get(
        "/metrics",
        REMOTE_ADDR="127.0.0.1",
        HTTP_AUTHORIZATION="Bearer s3cret-metrics",
        **{header: value},
    )

    assert (refused.status_code, allowed.status_code) == (403, 200)


@pytest.mark.parametrize(
    ("host", "remote", "sent", "status"),
    [
        ("127.0.0.1:8000", "127.0.0.1", "", 200),
        ("10.0.3.17:8000", "10.0.3.9", "Bearer s3cret-metrics", 200),
        ("10.0.3.17:8000", "10.0.3.9", "", 403),
    ],
)
def test_prometheus_scrapes_an_instance_by_its_address_under_production_hosts(
    client, settings, host, remote, sent, status
):
    """Prometheus (or a sidecar on loopback) scrapes each instance by its address, not by the
    public name in ALLOWED_HOSTS: the host check answered 400 with an HTML page, so /metrics
    could not be read at all in production. Who may read it is still decided by the address
    and the token."""
    settings.ALLOWED_HOSTS = ["billing.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.METRICS_TOKEN = "s3cret-metrics"
    headers = {"HTTP_AUTHORIZATION": sent} if sent else {}

    response = client.get("/metrics", HTTP_HOST=host, REMOTE_ADDR=remote, **headers)

    assert response.status_code == status
    assert response["X-Request-ID"]
    assert (b"# TYPE http_requests_total counter" in response.content) == (status == 200)


def test_requests_are_counted_by_view_and_status(api_client):
    before = sample("http_requests_total", view="catalog:token-bundles", method="GET", status="200")

    api_client.get("/api/v1/token-bundles")
    api_client.get("/api/v1/token-bundles")

    after = sample("http_requests_total", view="catalog:token-bundles", method="GET", status="200")
    assert after - before == 2


def test_each_view_method_and_status_is_counted_and_timed_apart(api_client):
    counted = [
        ("catalog:token-bundles", "GET", "200"),
        ("catalog:token-bundles", "HEAD", "200"),
        ("tokens:balance", "GET", "401"),
    ]
    before = [sample("http_requests_total", view=v, method=m, status=s) for v, m, s in counted]
    timed = [sample("http_request_duration_seconds_count", view=v, method=m) for v, m, _ in counted]

    for _ in range(2):
        api_client.get("/api/v1/token-bundles")
        api_client.head("/api/v1/token-bundles")
        api_client.get("/api/v1/user/tokens/balance")
        api_client.get("/api/v1/user/tokens/balance")

    after = [sample("http_requests_total", view=v, method=m, status=s) for v, m, s in counted]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2, 4]
    timed_after = [
        sample("http_request_duration_seconds_count", view=v, method=m) for v, m, _ in counted
    ]
    assert [a - b for a, b in zip(timed_after, timed, strict=True)] == [2, 2, 4]


def test_tokens_credited_consumed_and_refunded_are_counted_once_committed():
    user = UserFactory()
    before = {
        "adjustment": sample("tokens_credited_total", transaction_type="adjustment"),
        "usage": sample("tokens_debited_total", transaction_type="usage"),
        "refund": sample("tokens_credited_total", transaction_type="refund"),
    }

    fund(user, 100)
    usage = services.tokens_debit(user_id=user.pk, amount=30)
    services.usage_refund(transaction_id=usage.pk, actor_id=None)
    with pytest.raises(services.InsufficientTokens):
        services.tokens_debit(user_id=user.pk, amount=1000)

    assert (
        sample("tokens_credited_total", transaction_type="adjustment") - before["adjustment"] == 100
    )
    assert sample("tokens_debited_total", transaction_type="usage") - before["usage"] == 30
    assert sample("tokens_credited_total", transaction_type="refund") - before["refund"] == 30


def test_a_replayed_consume_is_not_counted_again():
    user = UserFactory()
    fund(user, 100)
    client = client_for(user)
    before = sample("tokens_debited_total", transaction_type="usage")

    for _ in range(3):
        client.post("/api/v1/user/tokens/consume", {"amount": 7}, HTTP_IDEMPOTENCY_KEY="once")

    assert sample("tokens_debited_total", transaction_type="usage") - before == 7


def test_captures_by_provider_and_refused_deliveries_are_counted():
    invoice = checkout(UserFactory(), bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    captured = sample("invoice_captures_total", provider="payment")
    refused = sample(
        "webhook_deliveries_refused_total", provider="payment", reason="invalid_signature"
    )

    deliver(APIClient(), payment_body(invoice), header="t=1,v1=00")
    deliver(APIClient(), payment_body(invoice))

    assert sample("invoice_captures_total", provider="payment") - captured == 1
    assert (
        sample("webhook_deliveries_refused_total", provider="payment", reason="invalid_signature")
        - refused
        == 1
    )


def test_the_refused_deliveries_help_says_it_counts_refusals_only():
    """A delivery that fails on our side (a 500 Stripe retries, a 503 busy) never reaches
    the counter, which the help said counted every delivery "answered with an error": an
    operator read a quiet counter during an outage as webhooks doing well."""
    (family,) = [f for f in REGISTRY.collect() if f.name == "webhook_deliveries_refused"]

    assert "4xx" in family.documentation
    assert "5xx" in family.documentation


def scraped(server) -> dict:
    status, _, text = server.call("GET", "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_add_up_across_gunicorn_workers():
    """Three sync workers, each made to serve one consume: the test holds the account's row
    lock until all three wait on it, so each request is in a different worker."""
    user = UserFactory()
    fund(user, 100)
    token = AccessToken.for_user(user)
    # A long lock timeout: all three must still be waiting when the lock is released.
    with gunicorn(database=the_test_database(), workers=3, DB_LOCK_TIMEOUT="60") as server:
        answers = []

        def consume(index):
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"job-{index}"}
            answers.append(
                server.call("POST", "/api/v1/user/tokens/consume", {"amount": 5}, headers=headers)
            )

        with psycopg.connect(**the_test_database()) as holder:
            holder.execute(
                "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE", [user.pk]
            )
            threads = [threading.Thread(target=consume, args=(index,)) for index in range(3)]
            for thread in threads:
                thread.start()
            waiting = workers_waiting_on_a_lock(the_test_database(), count=3)
            holder.rollback()
        for thread in threads:
            thread.join()
        metrics = scraped(server)

    assert len(set(waiting)) == 3
    assert [status for status, _, _ in answers] == [201] * 3
    assert metrics[("tokens_debited_total", (("transaction_type", "usage"),))] == 15
    consumed = (("method", "POST"), ("status", "201"), ("view", "tokens:consume"))
    assert metrics[("http_requests_total", consumed)] == 3
    latency = (("le", "+Inf"), ("method", "POST"), ("view", "tokens:consume"))
    assert metrics[("http_request_duration_seconds_bucket", latency)] == 3


def test_health_probes_and_scrapes_are_counted_as_themselves_not_as_unmatched(client):
    """Answered before URL resolution, every probe and scrape was counted as the `unmatched`
    view, with the scanners' 404s: its latency histogram mixed a database round trip with
    404s, and the probes' own rate or failures could not be told apart."""
    unmatched = sample("http_requests_total", view="unmatched", method="GET", status="200")
    before = [
        sample("http_requests_total", view=v, method="GET", status="200")
        for v in ("health", "metrics")
    ]

    client.get("/health")
    client.get("/health")
    client.get("/metrics")

    after = [
        sample("http_requests_total", view=v, method="GET", status="200")
        for v in ("health", "metrics")
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1]
    assert sample("http_requests_total", view="unmatched", method="GET", status="200") == unmatched
