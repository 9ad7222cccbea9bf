"""The catalog, users with tokens, the floor's tables and the ledger's history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.management import call_command

from catalog.models import Currency, TokenBundle


def catalog(*, bundles: int) -> dict:
    """The demo catalog, plus generated bundles up to `bundles` active ones."""
    call_command("seed_demo", verbosity=0)
    currency = Currency.objects.get(is_default=True)
    missing = bundles - TokenBundle.objects.filter(is_active=True).count()
    TokenBundle.objects.bulk_create(
        TokenBundle(
            name=f"Generated {index}",
            token_amount=100 + index,
            price=Decimal(10 + index),
            currency=currency,
            sort_order=100 + index,
        )
        for index in range(missing)
    )
    return {"active_bundles": TokenBundle.objects.filter(is_active=True).count()}


def _lasting_access_token(user: object) -> str:
    """An access token good for a whole `make bench` run. The service's own last 5 minutes,
    which a slow day's ledger scenario outlasts: in 20261205T163651Z its 8-connection runs
    got almost nothing but answers other than 2xx (401s, by every sign)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(hours=3))
    return str(token)


def ledger_users(
    *, users: int, tokens_file: str = "", key_file: str = "", lots: int = 1, balance: int = 10**9
) -> dict:
    """`users` users, each funded with `balance` tokens in `lots` never-expiring promotional
    lots granted through the service (so balance, lots and ledger agree as in production).
    Their access tokens go to `tokens_file`, one per line; with `key_file`, a new service key
    and each user's id go there, "<secret> <user id>" per line."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from accounts.services import api_key_create
    from tokens.services.lots import lot_grant

    start = User.objects.count()
    password = make_password(None)
    created = User.objects.bulk_create(
        User(email=f"bench{start + index}@example.com", password=password) for index in range(users)
    )
    for user in created:
        for _ in range(lots):
            lot_grant(
                user_id=user.pk,
                amount=balance // lots,
                category="promotional",
                reason="benchmark funds",
                actor_id=None,
            )
    if tokens_file:
        with open(tokens_file, "w") as out:
            out.writelines(f"{_lasting_access_token(user)}\n" for user in created)
    if key_file:
        secret = api_key_create(name=f"bench {start}", actor_id=None).secret
        with open(key_file, "w") as out:
            out.writelines(f"{secret} {user.pk}\n" for user in created)
    return {"users": len(created), "lots_each": lots}


def floor_tables(*, users: int) -> dict:
    """The floor's own tables (bench/floorapp) in the benchmark database, one row per user."""
    from django.db import connection

    from bench.floorapp.urls import SCHEMA

    with connection.cursor() as cursor:
        cursor.execute(SCHEMA)
        cursor.execute(
            "INSERT INTO bal SELECT n, 1000000000 FROM generate_series(1, %s) n", [users]
        )
    return {"floor_users": users}


def holds_history(*, per_account: int) -> dict:
    """`per_account` released holds for every account, so that the hold measure starts from
    a holds table of some size, as consume's tables are after the load. Analyzed empty, the
    table gets sequential scans for its key lookups, and the measure's own session keeps
    those plans while it adds thousands of holds (this machine's PostgreSQL runs without
    autovacuum, whose analyze would plan them again)."""

    from django.utils import timezone

    from tokens.models import Hold, TokenAccount

    now = timezone.now()
    holds = [
        Hold(
            account_id=account_id,
            amount=1,
            status=Hold.Status.RELEASED,
            expires_at=now + timedelta(hours=1),
            resolved_at=now,
            created_at=now,
        )
        for account_id in TokenAccount.objects.values_list("pk", flat=True)
        for _ in range(per_account)
    ]
    Hold.objects.bulk_create(holds, batch_size=5000)
    return {"released_holds": len(holds)}


def vacuum_analyze() -> dict:
    """Statistics and visibility maps as autovacuum would leave them after a bulk load (this
    machine's PostgreSQL runs without it), and nothing left for it to do mid-measurement
    where it runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"vacuumed": True}


def audited_history(*, entries: int, drift: bool = False) -> dict:
    """One user whose account has `entries` ledger entries the audit finds sound: a credit
    whose lot every later usage of 1 token takes from (one allocation each), loaded in SQL. With
    `drift`, every other entry's balance_after is off by one (about `entries` breaks in the
    chain, each seen twice), and nothing else: only the chain check can find it."""
    from django.db import connection

    from accounts.models import User

    user = User.objects.create_user(email=f"audited-{entries}-{drift}@example.com")
    funds = 10 * entries
    left = funds - (entries - 1)
    with connection.cursor() as cursor:
        # Row triggers off for the load (append-only rules, the allocations' account check):
        # the rows are made consistent by construction.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO tokens_tokenaccount (id, user_id, balance, total_purchased, total_spent,
                entry_count, held, created_at, updated_at)
            VALUES (gen_random_uuid(), %(user)s, %(left)s, 0, %(spent)s, %(entries)s, 0, now(),
                now())
            RETURNING id
            """,
            {"user": user.pk, "left": left, "spent": entries - 1, "entries": entries},
        )
        (account,) = cursor.fetchone()
        cursor.execute(
            """
            INSERT INTO tokens_tokentransaction
                (id, account_id, number, amount, transaction_type, reference_type, reference_id,
                 description, balance_after, idempotency_key, created_at)
            SELECT gen_random_uuid(), %(account)s, n,
                   CASE WHEN n = 1 THEN %(funds)s ELSE -1 END,
                   CASE WHEN n = 1 THEN 'adjustment' ELSE 'usage' END,
                   '', '', 'audited job ' || n,
                   %(funds)s - (n - 1) + CASE WHEN %(drift)s AND n %% 2 = 0 THEN 1 ELSE 0 END,
                   '', now() - make_interval(secs => %(entries)s - n)
            FROM generate_series(1, %(entries)s) AS n
            """,
            {"account": account, "funds": funds, "entries": entries, "drift": drift},
        )
        cursor.execute(
            """
            INSERT INTO tokens_tokenlot (id, account_id, category, amount, remaining, priority,
                source_type, source_id, credit_id, created_at)
            SELECT gen_random_uuid(), account_id, 'promotional', amount, %(left)s, 50,
                'adjustment', '', id, created_at
            FROM tokens_tokentransaction WHERE account_id = %(account)s AND number = 1
            """,
            {"account": account, "left": left},
        )
        cursor.execute(
            """
            INSERT INTO tokens_tokenallocation (entry_id, lot_id, amount)
            SELECT e.id, l.id, e.amount
            FROM tokens_tokentransaction e JOIN tokens_tokenlot l ON l.account_id = e.account_id
            WHERE e.account_id = %(account)s
            """,
            {"account": account},
        )
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("VACUUM ANALYZE")
    return {"user": user.email, "entries": entries, "drift": drift}


def idempotency_records() -> dict:
    """How many answers are stored: a request with a new Idempotency-Key adds one, a replay
    none."""
    from common.models import IdempotencyRecord

    return {"records": IdempotencyRecord.objects.count()}


def ledger_invariant() -> dict:
    from tokens.selectors import ledger_check

    broken = list(ledger_check())
    return {"accounts_failing_ledger_check": len(broken)}
