"""The floor for the consume benchmark: the least a debit endpoint must do.

A bare DRF view that authenticates the JWT like every endpoint does, then runs a raw
UPDATE ... RETURNING and an INSERT in one transaction. No validation, no idempotency key, no
throttling, no serializer: consume does all of those on top.
"""

import uuid

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

UPDATE = """
UPDATE tokens_tokenaccount
SET balance = balance - 1, total_spent = total_spent + 1, entry_count = entry_count + 1,
    updated_at = %s
WHERE user_id = %s AND balance >= 1
RETURNING id, balance, entry_count
"""
INSERT = """
INSERT INTO tokens_tokentransaction
    (id, account_id, number, amount, transaction_type, reference_type, reference_id,
     description, balance_after, idempotency_key, created_at)
VALUES (%s, %s, %s, -1, 'usage', '', '', '', %s, '', %s)
"""


class FloorDebitView(APIView):
    throttle_classes: list = []

    def post(self, request):
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(UPDATE, [now, request.user.pk])
            account_id, balance, number = cursor.fetchone()
            cursor.execute(INSERT, [uuid.uuid4(), account_id, number, balance, now])
        return Response({"balance": balance}, status=201)
