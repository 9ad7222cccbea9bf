"""`make bench`: load benchmarks against `make serve` (gunicorn) on PostgreSQL, measured by wrk.

Each scenario prepares its data in a fresh benchmark database, runs wrk against the running
server and reports requests/s and latency percentiles. Results are printed as a table and
written to bench/results/<timestamp>.json. Run by hand; nothing here is a test.

    make bench                       # every scenario
    make bench BENCH_ARGS="listing"  # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime

from harness import (
    BENCH,
    ROOT,
    SERVER_ENVIRONMENT,
    compared,
    fresh_database,
    measure,
    prepare,
    server,
    timed_command,
    wrk,
)


def listing(results: dict) -> None:
    """The public listing: the demo catalog (6 bundles) and 200 active bundles."""
    for bundles in (6, 200):
        fresh_database()
        prepare("catalog", bundles=bundles)
        with server():
            results[f"listing_{bundles}_bundles"] = wrk("/api/v1/token-bundles", connections=32)


def ledger(results: dict) -> None:
    """Consume at 32 connections, over 1000 users and on one hot user, beside the floor."""
    fresh_database()
    token_files = {}
    for label, users in (("1000_users", 1000), ("hot_user", 1)):
        token_files[label] = BENCH / "results" / f"tokens-{label}.txt"
        token_files[label].parent.mkdir(exist_ok=True)
        prepare("ledger_users", users=users, tokens_file=str(token_files[label]))
    prepare("vacuum_analyze")
    with server():
        for label, tokens in token_files.items():
            consume, floor, ratio = compared(
                "/api/v1/user/tokens/consume",
                "/bench/floor-debit",
                script="post.lua",
                env={"BENCH_TOKENS": str(tokens)},
                connections=32,
            )
            results[f"consume_{label}"] = consume
            results[f"floor_{label}"] = floor
            results[f"consume_vs_floor_{label}"] = ratio
    results["ledger_check_after_load"] = prepare("ledger_invariant")


def checkout(results: dict) -> None:
    """Checkout of 3 bundles at 16 connections (100 users), beside the ledger's floor."""
    fresh_database()
    body = prepare("checkout_catalog")["body"]
    tokens = BENCH / "results" / "tokens-checkout.txt"
    tokens.parent.mkdir(exist_ok=True)
    prepare("ledger_users", users=100, tokens_file=str(tokens))
    prepare("vacuum_analyze")
    env = {"BENCH_TOKENS": str(tokens), "BENCH_BODY": body}
    with server():
        endpoint, floor, ratio = compared(
            "/api/v1/user/checkout",
            "/bench/floor-debit",
            script="post.lua",
            env=env,
            connections=16,
        )
    results["checkout_3_items"] = endpoint
    results["floor_16_connections"] = floor
    results["checkout_vs_floor"] = ratio


def capture_webhook(results: dict) -> None:
    """Signed capture deliveries at 16 connections, each paying a new invoice."""
    fresh_database()
    deliveries = BENCH / "results" / "signed-captures.txt"
    deliveries.parent.mkdir(exist_ok=True)
    prepare(
        "signed_captures",
        invoices=8000,
        requests_file=str(deliveries),
        secret=SERVER_ENVIRONMENT["PAYMENT_WEBHOOK_SECRET"],
    )
    prepare("vacuum_analyze")
    with server():
        results["capture_webhook"] = wrk(
            "/api/v1/webhooks/payment",
            connections=16,
            script="webhook.lua",
            env={"BENCH_REQUESTS": str(deliveries), "BENCH_THREADS": "2"},
        )
    results["capture_webhook_outcomes"] = prepare("webhook_outcomes")


def reconcile(results: dict) -> None:
    """reconcile_purchases over 10,000 pending invoices with stale Stripe sessions and
    100,000 ledger accounts: wall time and peak memory, first run and second run."""
    sys.path.insert(0, str(ROOT))
    from billing.tests.fake_stripe import FakeStripe

    fresh_database()
    prepare("ledger_users", users=100_000)
    sessions_file = BENCH / "results" / "stale-sessions.json"
    sessions_file.parent.mkdir(exist_ok=True)
    prepare("stale_invoices", invoices=10_000, sessions_file=str(sessions_file))
    prepare("vacuum_analyze")
    fake = FakeStripe(webhook_secret="whsec_bench").start()
    fake.sessions.update(json.loads(sessions_file.read_text()))
    try:
        for run in ("first_run", "second_run"):
            results[f"reconcile_{run}"] = timed_command(
                ["reconcile_purchases", "--json"],
                STRIPE_API_BASE=fake.base,
                STRIPE_SECRET_KEY="sk_bench",
            )
    finally:
        fake.stop()


def history(results: dict) -> None:
    """1,000,000 entries for one user: page and cursor latency, CSV export memory."""
    fresh_database()
    loaded = prepare("audited_history", entries=1_000_000)
    results["history_1m_latency"] = measure("history_latency", email=loaded["user"])
    results["history_1m_csv"] = measure("csv_export_memory", email=loaded["user"])


def ledger_check(results: dict) -> None:
    """`manage.py ledger_check` over one account of 10,000 and of 1,000,000 entries, sound
    and with every other balance_after wrong: wall time and the command's peak RSS, beside
    the floor (the same command on an empty database); and its longest statement."""
    fresh_database()
    results["ledger_check_floor_empty"] = timed_command(["ledger_check", "--json"])
    for entries, drift in ((10_000, False), (1_000_000, False), (1_000_000, True)):
        fresh_database()
        prepare("audited_history", entries=entries, drift=drift)
        label = f"ledger_check_{entries}_entries{'_drifted' if drift else ''}"
        results[label] = timed_command(["ledger_check", "--json"])
        results[f"{label}_statements"] = measure("ledger_check_statements")


def timeouts(results: dict) -> None:
    """The database timeouts' cost per statement and per transaction, straight to
    PostgreSQL and behind PgBouncer in transaction pooling, beside the same without them."""
    fresh_database()
    results.update(
        {f"timeouts_{name}": figures for name, figures in measure("timeouts_cost").items()}
    )


SCENARIOS = {
    "listing": listing,
    "ledger": ledger,
    "checkout": checkout,
    "capture_webhook": capture_webhook,
    "reconcile": reconcile,
    "history": history,
    "ledger_check": ledger_check,
    "timeouts": timeouts,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"some of: {', '.join(SCENARIOS)}")
    chosen = parser.parse_args().scenarios or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    results: dict[str, dict] = {}
    for name in chosen:
        print(f"--- {name}", flush=True)
        SCENARIOS[name](results)

    print(f"\n{'scenario':<44}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, figures in results.items():
        if "requests_per_second" in figures:
            print(
                f"{name:<44}{figures['requests_per_second']:>10}{figures.get('p50_ms', '-'):>9}"
                f"{figures.get('p99_ms', '-'):>9}{figures['non_2xx']:>9}"
            )
        else:
            print(f"{name:<44}{json.dumps(figures)}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = BENCH / "results" / f"{stamp}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
