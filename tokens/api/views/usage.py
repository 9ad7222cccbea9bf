"""Usage: the user's own (JWT) and any user's through a service key (or staff)."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import Service
from accounts.permissions import StaffMayChangeTokenAccounts
from accounts.selectors import user_exists, user_get
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import page_of
from common.api.schema import error_response
from common.errors import NoSuchSubject
from tokens import selectors, services
from tokens.api.serializers.usage import (
    InsufficientTokensErrorSerializer,
    UsagePageSerializer,
    UsageQuerySerializer,
    UsageRequestSerializer,
    UsageResponseSerializer,
    UsageSerializer,
    usage_body,
)
from tokens.ledger import InsufficientTokens, ShortForUsage, Work

SHORT = {402: InsufficientTokensErrorSerializer}


class NoSuchUser(NoSuchSubject):
    default_message = "No user with this id."


REUSED = {422: error_response("`idempotency_key_reused`: the key came with another body.")}


class ServiceOrStaff(permissions.BasePermission):
    """A seller's backend (an API key) or a staff member acting for a user. Recording usage,
    refunding it and settling holds move the user's tokens: a staff member does them only if
    their role allows changing token accounts, as the admin's Adjust asks, and reads them if
    it allows viewing token accounts."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if isinstance(request.user, Service):
            return True
        return StaffMayChangeTokenAccounts().has_permission(request, view)


class ForAnyUser(APIView):
    """`/users/{user_id}/…`: a service key or staff, for the user the path names."""

    service_keys_allowed = True
    permission_classes = [ServiceOrStaff]

    @staticmethod
    def target(user_id: UUID) -> UUID:
        return user_get(user_id=user_id).pk


def caller_scope(request: Request) -> str:
    """Who is calling, for the durable key: the user, a service key or a staff member."""
    if isinstance(request.user, Service):
        return f"service:{request.user.pk}"
    return "user" if not request.user.is_staff else f"staff:{request.user.pk}"


def record_usage(request: Request, *, user_id: UUID, key: str, scope: str) -> Response:
    payload = UsageRequestSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    work = Work(
        amount=payload.validated_data["amount"],
        feature=payload.validated_data.get("feature", ""),
        description=payload.validated_data.get("description", ""),
        reference=payload.validated_data.get("reference", ""),
        usage_key=f"{scope}:{key}",
        entry_key=f"usage:{scope}:{key}",
    )

    def use() -> Response:
        try:
            used = services.usage_record(user_id=user_id, work=work)
        except InsufficientTokens as short:
            # A user without tokens may be no user at all: asked only now, so that usage
            # for a user who exists costs no read of the user.
            if short.balance == 0 and scope != "user" and not user_exists(user_id=user_id):
                raise NoSuchUser() from short
            raise ShortForUsage.of(short) from short
        if used.balance is None:
            balance = selectors.token_balance(user_id=user_id)
            after = {"balance": balance.balance, "available": balance.available}
        else:
            after = {"balance": used.balance, "available": used.available}
        body = {"usage": usage_body(used.usage, user_id=user_id, taken=used.taken or None)}
        return Response({**body, "balance": after}, status=status.HTTP_201_CREATED)

    return idempotent(request, key, use)


class UsageView(APIView):
    @extend_schema(
        tags=["usage"],
        parameters=[idempotency_parameter(required=True)],
        request=UsageRequestSerializer,
        responses={201: UsageResponseSerializer, **SHORT, **REUSED},
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=True, body=UsageRequestSerializer)
        return record_usage(request, user_id=request.user.pk, key=key, scope="user")

    @extend_schema(
        tags=["usage"],
        operation_id="user_usage_list",
        parameters=[UsageQuerySerializer],
        responses=UsagePageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        usage = selectors.usage_of_user(
            user_id=request.user.pk,
            feature=options.get("feature"),
            created_after=options.get("created_after"),
            created_before=options.get("created_before"),
        )
        body = page_of(usage, page=options["page"], per_page=options["per_page"])
        body["items"] = [usage_body(record, user_id=request.user.pk) for record in body["items"]]
        return Response(body)


class UsageDetailView(APIView):
    @extend_schema(tags=["usage"], responses=UsageSerializer)
    def get(self, request: Request, pk: UUID) -> Response:
        usage = services.usage_get(usage_id=pk, user_id=request.user.pk)
        return Response(usage_body(usage, user_id=request.user.pk))


class ServiceUsageView(ForAnyUser):
    @extend_schema(
        tags=["usage"],
        operation_id="users_usage_create",
        parameters=[idempotency_parameter(required=True)],
        request=UsageRequestSerializer,
        responses={201: UsageResponseSerializer, **SHORT, **REUSED},
    )
    def post(self, request: Request, user_id: UUID) -> Response:
        key = idempotency_key(request, required=True, body=UsageRequestSerializer)
        return record_usage(request, user_id=user_id, key=key, scope=caller_scope(request))


class ServiceUsageRefundView(ForAnyUser):
    @extend_schema(
        tags=["usage"],
        request=None,
        responses={
            200: UsageSerializer,
            409: error_response("`already_refunded`: this usage was refunded before."),
        },
    )
    def post(self, request: Request, user_id: UUID, pk: UUID) -> Response:
        target = self.target(user_id)
        actor = None if isinstance(request.user, Service) else request.user.pk
        usage = services.usage_record_refund(user_id=target, usage_id=pk, actor_id=actor)
        return Response(usage_body(usage, user_id=target))
