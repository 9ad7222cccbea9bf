"""In-process measurements (server time, memory) run inside the benchmark database."""

from __future__ import annotations

import resource
import statistics
import time

from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tokens.api.serializers.ledger import CursorField
from tokens.models import TokenAccount

HISTORY = "/api/v1/user/tokens/transactions"


def _client(email: str) -> Client:
    user = User.objects.get(email=email)
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")


def _timed(client: Client, params: dict, repeats: int) -> dict:
    client.get(HISTORY, params)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(HISTORY, params)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content
    return {
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def history_latency(*, email: str, repeats: int = 30) -> dict:
    """Server time of history pages over a long ledger (Django's handler, in process)."""
    client = _client(email)
    newest = TokenAccount.objects.get(user__email=email).entry_count
    deep_cursor = CursorField.encode(newest - 10_000)
    return {
        "first_page": _timed(client, {"per_page": 50}, repeats),
        "first_cursor_page": _timed(client, {"per_page": 50, "cursor": ""}, repeats),
        "cursor_page_10000_deep": _timed(client, {"per_page": 50, "cursor": deep_cursor}, repeats),
        "numbered_page_10000_deep": _timed(client, {"per_page": 50, "page": 201}, repeats),
        "first_page_filtered_by_type": _timed(client, {"per_page": 50, "type": "usage"}, repeats),
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def csv_export_memory(*, email: str) -> dict:
    """Streams the whole history as CSV and reports the process's peak RSS around it."""
    client = _client(email)
    client.get(HISTORY, {"per_page": 50})
    before = _peak_rss_mb()
    start = time.perf_counter()
    response = client.get(HISTORY, {"format": "csv"})
    rows = size = 0
    for chunk in response.streaming_content:
        rows += 1
        size += len(chunk)
    return {
        "rows": rows - 1,
        "megabytes": round(size / 1e6, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_before_mb": round(before, 1),
        "peak_rss_after_mb": round(_peak_rss_mb(), 1),
    }


def ledger_check_statements() -> dict:
    """The audit's statements, in process: how many and the longest, which must stay well
    inside DB_STATEMENT_TIMEOUT (15 s) for the audit to run under production settings."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tokens.selectors import ledger_check

    with CaptureQueriesContext(connection) as queries:
        failures = len(list(ledger_check()))
    seconds = [float(query["time"]) for query in queries.captured_queries]
    return {"statements": len(seconds), "longest_s": max(seconds), "failures": failures}


def _round_trips(samples: int) -> dict:
    """Microseconds per autocommit statement and per one-statement transaction (best of 3)."""
    from django.db import connection, transaction

    def run() -> tuple[float, float]:
        started = time.perf_counter()
        for _ in range(samples):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        alone = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(samples):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return alone, time.perf_counter() - started

    alone, in_transaction = min(run() for _ in range(3))
    return {
        "statement_us": round(alone / samples * 1e6),
        "transaction_us": round(in_transaction / samples * 1e6),
    }


def timeouts_cost(*, samples: int = 2000) -> dict:
    """What the database timeouts cost a statement: straight to PostgreSQL (startup options)
    and behind a PgBouncer in transaction pooling (SET LOCAL per transaction, a transaction
    for each statement outside one), each beside the same without timeouts."""
    from django.db import connection

    from common.tests.servers import pgbouncer

    database = connection.settings_dict
    saved = {name: database.get(name) for name in ("PORT", "TIMEOUTS", "TRANSACTION_POOLING")}
    figures = {}
    with pgbouncer() as through:
        for route, changes in (
            ("direct", {}),
            ("pgbouncer", {"PORT": str(through["port"]), "TRANSACTION_POOLING": True}),
        ):
            for timeouts in ("with_timeouts", "without"):
                connection.close()
                database.update(saved, **changes)
                if timeouts == "without":
                    database["TIMEOUTS"] = {}
                figures[f"{route}_{timeouts}"] = _round_trips(samples)
    connection.close()
    database.update(saved)
    return figures


def hold_capture_vs_consume(*, rounds: int = 16, per_round: int = 75) -> dict:
    """A hold plus its capture beside a consume of the same amount, both through the API with
    a user's JWT (Django's handler, in process, no network); server time per operation.

    Alternated two ways, A-B-B-A each: in blocks of `per_round` (each side pays for what its
    own writes leave behind) and request by request (drift cancels at the finest grain).
    Each reports its total ratio and the spread of its rounds' ratios."""
    import uuid

    from tokens.models import TokenAccount

    user = TokenAccount.objects.filter(balance__gt=0).select_related("user").first().user
    client = _client(user.email)

    def post(path: str, status: int) -> dict:
        response = client.post(
            path,
            {"amount": 1},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        assert response.status_code == status, response.content
        return response.json()

    def consume() -> None:
        post("/api/v1/user/tokens/consume", 201)

    def hold_and_capture() -> None:
        held = post("/api/v1/user/holds", 201)
        post(f"/api/v1/user/holds/{held['hold']['id']}/capture", 200)

    def timed(operation, times: int) -> float:
        started = time.perf_counter()
        for _ in range(times):
            operation()
        return time.perf_counter() - started

    def alternated(block: int, cycles: int) -> dict:
        totals, ratios = {consume: 0.0, hold_and_capture: 0.0}, []
        for _ in range(rounds):
            spent = {consume: 0.0, hold_and_capture: 0.0}
            for _ in range(cycles):
                for operation in (consume, hold_and_capture, hold_and_capture, consume):
                    spent[operation] += timed(operation, block)
            ratios.append(spent[hold_and_capture] / spent[consume])
            for operation, seconds in spent.items():
                totals[operation] += seconds
        count = rounds * cycles * 2 * block
        consume_ms = totals[consume] / count * 1000
        pair_ms = totals[hold_and_capture] / count * 1000
        return {
            "consume_ms": round(consume_ms, 2),
            "hold_and_capture_ms": round(pair_ms, 2),
            "ratio": round(pair_ms / consume_ms, 2),
            "rounds_median": round(statistics.median(ratios), 2),
            "rounds_range": [round(min(ratios), 2), round(max(ratios), 2)],
        }

    timed(consume, per_round), timed(hold_and_capture, per_round)
    return {
        "in_blocks": alternated(per_round, 1),
        "request_by_request": alternated(1, per_round),
    }
