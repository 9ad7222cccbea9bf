"""Holds: the user's own (JWT) and any user's through a service key (or staff)."""

from __future__ import annotations

from uuid import UUID

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import page_of
from common.api.schema import error_response
from tokens import selectors, services
from tokens.api.serializers.usage import (
    HoldCaptureRequestSerializer,
    HoldCaptureResponseSerializer,
    HoldPageSerializer,
    HoldQuerySerializer,
    HoldRequestSerializer,
    HoldResponseSerializer,
    HoldSerializer,
    hold_body,
    usage_body,
)
from tokens.api.views.usage import REUSED, SHORT, ForAnyUser, caller_scope
from tokens.ledger import InsufficientTokens, ShortForUsage

NOT_ACTIVE = error_response(
    "`invalid_state`: the hold is not active; `hold_expired`: it has expired."
)
NOT_YOURS = error_response(
    "`permission_denied`: a service or staff made this hold for you; only they can capture "
    "or release it (the user's own endpoints only)."
)


class HoldActions:
    """The hold operations, for the user a view acts for."""

    def create(self, request: Request, user_id: UUID, scope: str) -> Response:
        key = idempotency_key(request, required=True, body=HoldRequestSerializer)
        payload = HoldRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        def reserve() -> Response:
            try:
                made = services.hold_create(
                    user_id=user_id,
                    idempotency_key=f"{scope}:{key}",
                    **payload.validated_data,
                )
            except InsufficientTokens as short:
                raise ShortForUsage.of(short) from short
            body = {
                "hold": hold_body(made.hold, now=timezone.now()),
                "balance": {"balance": made.balance, "available": made.available},
            }
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, key, reserve)

    def capture(self, request: Request, user_id: UUID, hold_id: UUID, scope: str) -> Response:
        key = idempotency_key(request, required=True, body=HoldCaptureRequestSerializer)
        payload = HoldCaptureRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        def capture() -> Response:
            try:
                done = services.hold_capture(
                    user_id=user_id,
                    hold_id=hold_id,
                    idempotency_key=f"{scope}:{key}",
                    by_its_user=scope == "user",
                    **payload.validated_data,
                )
            except InsufficientTokens as short:
                raise ShortForUsage.of(short) from short
            body = {
                "hold": hold_body(done.hold, now=timezone.now()),
                "usage": usage_body(
                    done.used.usage, user_id=user_id, taken=done.used.taken or None
                ),
            }
            return Response(body)

        return idempotent(request, key, capture)

    def release(self, request: Request, user_id: UUID, hold_id: UUID, scope: str) -> Response:
        key = idempotency_key(request, required=False)

        def release() -> Response:
            hold = services.hold_release(
                user_id=user_id, hold_id=hold_id, by_its_user=scope == "user"
            )
            return Response({"hold": hold_body(hold, now=timezone.now())})

        return idempotent(request, key, release)

    def listing(self, request: Request, user_id: UUID) -> Response:
        query = HoldQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        now, options = timezone.now(), query.validated_data
        holds = selectors.holds_of_user(user_id=user_id, status=options.get("status"), now=now)
        body = page_of(holds, page=options["page"], per_page=options["per_page"])
        body["items"] = [hold_body(hold, now=now) for hold in body["items"]]
        return Response(body)

    def one(self, request: Request, user_id: UUID, hold_id: UUID) -> Response:
        hold = selectors.hold_get(user_id=user_id, hold_id=hold_id)
        return Response(hold_body(hold, now=timezone.now()))


CREATE = {
    "tags": ["holds"],
    "parameters": [idempotency_parameter(required=True)],
    "request": HoldRequestSerializer,
    "responses": {201: HoldResponseSerializer, **SHORT, **REUSED},
}
CAPTURE = {
    "tags": ["holds"],
    "parameters": [idempotency_parameter(required=True)],
    "request": HoldCaptureRequestSerializer,
    "responses": {
        200: HoldCaptureResponseSerializer,
        409: error_response(
            "`exceeds_hold`: more than the hold has left; `invalid_state`: not active; "
            "`hold_expired`: it has expired."
        ),
        403: NOT_YOURS,
        **SHORT,
        **REUSED,
    },
}
RELEASE = {
    "tags": ["holds"],
    "parameters": [idempotency_parameter(required=False)],
    "request": None,
    "responses": {200: HoldResponseSerializer, 403: NOT_YOURS, 409: NOT_ACTIVE, **REUSED},
}
LIST = {"tags": ["holds"], "parameters": [HoldQuerySerializer], "responses": HoldPageSerializer}
ONE = {"tags": ["holds"], "responses": HoldSerializer}


class HoldsView(APIView, HoldActions):
    @extend_schema(**CREATE)
    def post(self, request: Request) -> Response:
        return self.create(request, request.user.pk, "user")

    @extend_schema(**LIST, operation_id="user_holds_list")
    def get(self, request: Request) -> Response:
        return self.listing(request, request.user.pk)


class HoldView(APIView, HoldActions):
    @extend_schema(**ONE)
    def get(self, request: Request, pk: UUID) -> Response:
        return self.one(request, request.user.pk, pk)


class HoldCaptureView(APIView, HoldActions):
    @extend_schema(**CAPTURE)
    def post(self, request: Request, pk: UUID) -> Response:
        return self.capture(request, request.user.pk, pk, "user")


class HoldReleaseView(APIView, HoldActions):
    @extend_schema(**RELEASE)
    def post(self, request: Request, pk: UUID) -> Response:
        return self.release(request, request.user.pk, pk, "user")


class ServiceHoldsView(ForAnyUser, HoldActions):
    @extend_schema(**CREATE, operation_id="users_holds_create")
    def post(self, request: Request, user_id: UUID) -> Response:
        return self.create(request, self.target(user_id), caller_scope(request))

    @extend_schema(**LIST, operation_id="users_holds_list")
    def get(self, request: Request, user_id: UUID) -> Response:
        return self.listing(request, self.target(user_id))


class ServiceHoldView(ForAnyUser, HoldActions):
    @extend_schema(**ONE, operation_id="users_holds_retrieve")
    def get(self, request: Request, user_id: UUID, pk: UUID) -> Response:
        return self.one(request, self.target(user_id), pk)


class ServiceHoldCaptureView(ForAnyUser, HoldActions):
    @extend_schema(**CAPTURE, operation_id="users_holds_capture_create")
    def post(self, request: Request, user_id: UUID, pk: UUID) -> Response:
        return self.capture(request, self.target(user_id), pk, caller_scope(request))


class ServiceHoldReleaseView(ForAnyUser, HoldActions):
    @extend_schema(**RELEASE, operation_id="users_holds_release_create")
    def post(self, request: Request, user_id: UUID, pk: UUID) -> Response:
        return self.release(request, self.target(user_id), pk, caller_scope(request))
