from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAcceptable
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.fastpath import CommonCaseFirst
from common.api.files import AnswersAFile
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import page_count, page_of
from common.api.schema import error_response
from common.exports import CsvRenderer, csv_response
from tokens import selectors, services
from tokens.api.serializers.ledger import (
    BalanceSerializer,
    ConsumeRequestSerializer,
    ConsumeResponseSerializer,
    CursorField,
    HistoryPageSerializer,
    HistoryQuerySerializer,
    LotPageSerializer,
    LotQuerySerializer,
    TokenTransactionDetailSerializer,
    balance_body,
    entry_body,
)
from tokens.ledger import Work


# Read on every page load: the common case is answered beside DRF (common.api.fastpath).
class BalanceView(CommonCaseFirst):
    @extend_schema(tags=["tokens"], responses=BalanceSerializer)
    def get(self, request: Request) -> Response:
        return Response(self.common_case_body(request.user))

    def common_case_body(self, user: Any) -> dict:
        return balance_body(selectors.token_balance(user_id=user.pk))


HISTORY_RESPONSES = {
    (200, "application/json"): HistoryPageSerializer,
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="With `format=csv`."),
}


class HistoryView(AnswersAFile):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=["tokens"], parameters=[HistoryQuerySerializer], responses=HISTORY_RESPONSES
    )
    def get(self, request: Request):
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        if options["format"] != "csv" and isinstance(request.accepted_renderer, CsvRenderer):
            raise NotAcceptable("A page of history is JSON; ask for CSV with ?format=csv.")
        filters = selectors.HistoryFilters(
            transaction_type=options.get("type"),
            created_after=options.get("created_after"),
            created_before=options.get("created_before"),
        )
        if options["format"] == "csv":
            rows = selectors.token_history_rows(user_id=request.user.pk, filters=filters)
            return csv_response(
                rows, header=selectors.CSV_COLUMNS, filename="token-transactions.csv"
            )
        per_page = options["per_page"]
        if "cursor" in options:
            found = selectors.token_history_after(
                user_id=request.user.pk,
                filters=filters,
                before_number=options["cursor"],
                per_page=per_page,
            )
            body = {"items": found.items, "per_page": per_page, "next_cursor": _cursor(found)}
            return Response(HistoryPageSerializer(body).data)
        found = selectors.token_history_page(
            user_id=request.user.pk, filters=filters, page=options["page"], per_page=per_page
        )
        pages = page_count(page=options["page"], per_page=per_page, total=found.total)
        body = {
            "items": found.items,
            "total": found.total,
            "page": options["page"],
            "per_page": per_page,
            "pages": pages,
            "next_cursor": _cursor(found),
        }
        return Response(HistoryPageSerializer(body).data)


def _cursor(page: selectors.HistoryPage) -> str | None:
    return CursorField.encode(page.next_cursor) if page.next_cursor else None


class ConsumeView(APIView):
    @extend_schema(
        tags=["tokens"],
        parameters=[idempotency_parameter(required=True)],
        request=ConsumeRequestSerializer,
        examples=[
            OpenApiExample(
                "One report",
                value={"amount": 3, "description": "Quarterly report", "reference": "job-42"},
                request_only=True,
            )
        ],
        responses={
            201: ConsumeResponseSerializer,
            402: error_response("`insufficient_tokens`: the balance is short; nothing changed."),
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=True, body=ConsumeRequestSerializer)
        payload = ConsumeRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return idempotent(
            request, key, lambda: self._consume(request, key, **payload.validated_data)
        )

    @staticmethod
    def _consume(
        request: Request, key: str, *, amount: int, description: str = "", reference: str = ""
    ) -> Response:
        """Usage without a feature: under an unlimited plan `transaction` is null."""
        used = services.usage_record(
            user_id=request.user.pk,
            work=Work(
                amount=amount,
                description=description,
                reference=reference,
                usage_key=f"consume:{key}",
                entry_key=f"consume:{key}",
            ),
        )
        if used.balance is None:
            balance = selectors.token_balance(user_id=request.user.pk).balance
        else:
            balance = used.balance
        entry = entry_body(used.entry) if used.entry else None
        return Response({"transaction": entry, "balance": balance}, status=status.HTTP_201_CREATED)


class EntryView(APIView):
    @extend_schema(
        tags=["tokens"],
        operation_id="user_tokens_transaction_retrieve",
        responses={200: TokenTransactionDetailSerializer},
    )
    def get(self, request: Request, pk: UUID) -> Response:
        entry = selectors.entry_of_user(user_id=request.user.pk, entry_id=pk)
        return Response(TokenTransactionDetailSerializer(entry).data)


class LotListView(APIView):
    @extend_schema(tags=["tokens"], parameters=[LotQuerySerializer], responses=LotPageSerializer)
    def get(self, request: Request) -> Response:
        query = LotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options, now = query.validated_data, timezone.now()
        lots = selectors.lots_of_user(
            user_id=request.user.pk,
            status=options.get("status"),
            category=options.get("category"),
            now=now,
        )
        body = page_of(lots, page=options["page"], per_page=options["per_page"])
        return Response(LotPageSerializer(body, context={"now": now}).data)
