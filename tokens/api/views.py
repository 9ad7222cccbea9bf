from __future__ import annotations

from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_get
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import page_count
from common.api.schema import error_response
from common.exports import csv_response
from tokens import selectors, services
from tokens.api.serializers import (
    AdjustRequestSerializer,
    BalanceSerializer,
    ConsumeRequestSerializer,
    ConsumeResponseSerializer,
    CursorField,
    HistoryPageSerializer,
    HistoryQuerySerializer,
    StaffTokenTransactionSerializer,
    TokenTransactionSerializer,
)


class BalanceView(APIView):
    @extend_schema(tags=["tokens"], responses=BalanceSerializer)
    def get(self, request: Request) -> Response:
        balance = selectors.token_balance(user_id=request.user.pk)
        return Response(BalanceSerializer(balance).data)


HISTORY_RESPONSES = {
    (200, "application/json"): HistoryPageSerializer,
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="With `format=csv`."),
}


class HistoryView(APIView):
    @extend_schema(
        tags=["tokens"], parameters=[HistoryQuerySerializer], responses=HISTORY_RESPONSES
    )
    def get(self, request: Request):
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
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
            409: error_response("`conflict`: a request with this key is still in flight."),
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=True)
        payload = ConsumeRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return idempotent(
            request, key, lambda: self._consume(request, key, **payload.validated_data)
        )

    @staticmethod
    def _consume(
        request: Request, key: str, *, amount: int, description: str = "", reference: str = ""
    ) -> Response:
        entry = services.tokens_debit(
            user_id=request.user.pk,
            amount=amount,
            description=description,
            reference_type="client" if reference else "",
            reference_id=reference,
            idempotency_key=f"consume:{key}",
        )
        body = {
            "transaction": TokenTransactionSerializer(entry).data,
            "balance": entry.balance_after,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class StaffView(APIView):
    permission_classes = [permissions.IsAdminUser]


class StaffAdjustView(StaffView):
    @extend_schema(
        tags=["staff: tokens"],
        parameters=[idempotency_parameter(required=False)],
        request=AdjustRequestSerializer,
        responses={
            201: StaffTokenTransactionSerializer,
            409: error_response("`insufficient_tokens`: a debit larger than the balance."),
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request, user_id: UUID) -> Response:
        key = idempotency_key(request, required=False)
        payload = AdjustRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = user_get(user_id=user_id)

        def adjust() -> Response:
            entry = services.tokens_adjust(
                user_id=user.pk,
                actor_id=request.user.pk,
                idempotency_key=f"adjust:{request.user.pk}:{key}" if key else None,
                **payload.validated_data,
            )
            return Response(
                StaffTokenTransactionSerializer(entry).data, status=status.HTTP_201_CREATED
            )

        return idempotent(request, key, adjust)


class StaffUsageRefundView(StaffView):
    @extend_schema(
        tags=["staff: tokens"],
        request=None,
        responses={
            201: StaffTokenTransactionSerializer,
            409: error_response(
                "`already_refunded`: given back before; `invalid_state`: not a usage entry."
            ),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        entry = services.usage_refund(transaction_id=pk, actor_id=request.user.pk)
        return Response(StaffTokenTransactionSerializer(entry).data, status=status.HTTP_201_CREATED)
