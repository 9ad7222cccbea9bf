from __future__ import annotations

from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import StaffMayChangeTokenAccounts
from accounts.selectors import user_get
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.schema import error_response
from tokens import services
from tokens.api.serializers.ledger import (
    AdjustRequestSerializer,
    GrantRequestSerializer,
    StaffLotSerializer,
    StaffTokenTransactionSerializer,
    VoidRequestSerializer,
)


# Every operation here moves tokens: staff whose role allows changing token accounts, as the
# admin's Adjust, Grant and Void ask (accounts.selectors.staff_may). No docstring: the schema
# would describe each operation with it.
class StaffView(APIView):
    permission_classes = [permissions.IsAdminUser, StaffMayChangeTokenAccounts]


class StaffAdjustView(StaffView):
    @extend_schema(
        tags=["staff: tokens"],
        parameters=[idempotency_parameter(required=False)],
        request=AdjustRequestSerializer,
        responses={
            201: StaffTokenTransactionSerializer,
            403: StaffMayChangeTokenAccounts.refused,
            409: error_response(
                "`insufficient_tokens`: a debit larger than what is available (the balance"
                " less what active holds reserve)."
            ),
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request, user_id: UUID) -> Response:
        key = idempotency_key(request, required=False, body=AdjustRequestSerializer)
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
            403: StaffMayChangeTokenAccounts.refused,
            409: error_response(
                "`already_refunded`: given back before; `invalid_state`: not a usage entry."
            ),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        entry = services.usage_refund(transaction_id=pk, actor_id=request.user.pk)
        return Response(StaffTokenTransactionSerializer(entry).data, status=status.HTTP_201_CREATED)


class StaffGrantView(StaffView):
    @extend_schema(
        tags=["staff: tokens"],
        parameters=[idempotency_parameter(required=False)],
        request=GrantRequestSerializer,
        responses={
            201: StaffLotSerializer,
            403: StaffMayChangeTokenAccounts.refused,
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    def post(self, request: Request, user_id: UUID) -> Response:
        key = idempotency_key(request, required=False, body=GrantRequestSerializer)
        payload = GrantRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = user_get(user_id=user_id)

        def grant() -> Response:
            lot = services.lot_grant(
                user_id=user.pk,
                actor_id=request.user.pk,
                idempotency_key=f"grant:{request.user.pk}:{key}" if key else None,
                **payload.validated_data,
            )
            body = StaffLotSerializer(lot, context={"now": timezone.now()}).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, key, grant)


class StaffLotVoidView(StaffView):
    @extend_schema(
        tags=["staff: tokens"],
        request=VoidRequestSerializer,
        responses={
            200: StaffLotSerializer,
            403: StaffMayChangeTokenAccounts.refused,
            409: error_response("`invalid_state`: the lot has expired or has nothing left."),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        payload = VoidRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        voided = services.lot_void(lot_id=pk, actor_id=request.user.pk, **payload.validated_data)
        return Response(StaffLotSerializer(voided.lot, context={"now": timezone.now()}).data)
