"""The floor's three endpoints, exactly as issue 14 defines them.

`GET /hello` answers `{"ok": true}`; `GET /balance` reads one balance of a random user;
`POST /debit` takes one token from a random user and writes one ledger row, in a transaction.
"""

import os
import random

from django.db import connection, transaction
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response

USERS = int(os.environ.get("FLOOR_USERS", "50"))

SCHEMA = """
DROP TABLE IF EXISTS bal, floor_ledger;
CREATE TABLE bal (user_id integer PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE floor_ledger (
    id bigserial PRIMARY KEY,
    user_id integer NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


@api_view(["GET"])
def hello(request):
    return Response({"ok": True})


@api_view(["GET"])
def balance(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT balance FROM bal WHERE user_id = %s", [random.randint(1, USERS)])
        (amount,) = cursor.fetchone()
    return Response({"balance": amount})


@api_view(["POST"])
def debit(request):
    user_id = random.randint(1, USERS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bal SET balance = balance - 1 WHERE user_id = %s AND balance >= 1 "
            "RETURNING balance",
            [user_id],
        )
        (after,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO floor_ledger (user_id, amount, balance_after) VALUES (%s, -1, %s)",
            [user_id, after],
        )
    return Response({"balance": after}, status=201)


urlpatterns = [
    path("hello", hello),
    path("balance", balance),
    path("debit", debit),
]
