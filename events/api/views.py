"""Staff: the seller's webhook endpoints, their delivery attempts, resending an event."""

from __future__ import annotations

from uuid import UUID

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import StaffMayPerMethod, refusal
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import PageQuerySerializer, page_of
from common.api.schema import error_response
from events import selectors, services
from events.api.converters import EventIdConverter
from events.api.serializers import (
    AttemptPageSerializer,
    EndpointChangeSerializer,
    EndpointCreatedSerializer,
    EndpointCreateSerializer,
    EndpointPageSerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    QueuedSerializer,
)
from events.models import Event

TAGS = ["staff: webhooks"]
KEY_REUSED = error_response("`idempotency_key_reused`: the key came with another body.")
# What the admin asks for the same change (docs/api.md, Staff roles): an endpoint gets every
# invoice and token event it names, so a view-only role must not point one at its own URL.
ADD, CHANGE, DELETE, VIEW = (
    f"events.{verb}_webhookendpoint" for verb in ("add", "change", "delete", "view")
)
# The event admin's Resend.
RESEND = "events.change_event"


def paged(request: Request, items, serializer) -> Response:
    query = PageQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return Response(serializer(page_of(items, **query.validated_data)).data)


class StaffView(APIView):
    """Reads and writes need what `staff_permissions` names (StaffMayPerMethod)."""

    permission_classes = [permissions.IsAdminUser, StaffMayPerMethod]
    staff_permissions: dict[str, str] = {}


class EndpointsView(StaffView):
    staff_permissions = {"GET": VIEW, "POST": ADD}

    @extend_schema(
        tags=TAGS,
        operation_id="admin_webhook_endpoints_list",
        parameters=[PageQuerySerializer],
        responses=EndpointPageSerializer,
    )
    def get(self, request: Request) -> Response:
        return paged(request, selectors.endpoints_list(), EndpointPageSerializer)

    @extend_schema(
        tags=TAGS,
        parameters=[idempotency_parameter(required=False)],
        request=EndpointCreateSerializer,
        responses={201: EndpointCreatedSerializer, 403: refusal(ADD), 422: KEY_REUSED},
    )
    # A secret is shown once: no browser or proxy may keep it (nor its replay).
    @method_decorator(never_cache)
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=False, body=EndpointCreateSerializer)
        payload = EndpointCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        def create() -> Response:
            endpoint = services.endpoint_create(actor_id=request.user.pk, **payload.validated_data)
            body = EndpointCreatedSerializer(endpoint).data
            return Response(body, status=status.HTTP_201_CREATED)

        # Shown once, as an API key's: a replay answers without it (it may be rotated since).
        return idempotent(request, key, create, kept=lambda body: {**body, "secret": None})


class EndpointView(StaffView):
    staff_permissions = {"GET": VIEW, "PATCH": CHANGE, "DELETE": DELETE}

    @extend_schema(tags=TAGS, responses=EndpointSerializer)
    def get(self, request: Request, pk: UUID) -> Response:
        return Response(EndpointSerializer(selectors.endpoint_get(endpoint_id=pk)).data)

    @extend_schema(
        tags=TAGS,
        request=EndpointChangeSerializer,
        responses={
            200: EndpointSerializer,
            403: refusal(CHANGE),
            409: error_response("`invalid_state`: turned on while it is being deleted."),
        },
    )
    def patch(self, request: Request, pk: UUID) -> Response:
        payload = EndpointChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint_id=pk, actor_id=request.user.pk, **payload.validated_data
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(tags=TAGS, responses={204: None, 403: refusal(DELETE)})
    def delete(self, request: Request, pk: UUID) -> Response:
        services.endpoint_delete(endpoint_id=pk, actor_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(StaffView):
    staff_permissions = {"POST": CHANGE}

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={200: EndpointWithSecretSerializer, 403: refusal(CHANGE)},
    )
    # A secret is shown once: no browser or proxy may keep it.
    @method_decorator(never_cache)
    def post(self, request: Request, pk: UUID) -> Response:
        endpoint = services.endpoint_rotate_secret(endpoint_id=pk, actor_id=request.user.pk)
        return Response(EndpointWithSecretSerializer(endpoint).data)


class PingView(StaffView):
    """The endpoint admin's Send a test ping asks for the change permission."""

    staff_permissions = {"POST": CHANGE}

    @extend_schema(
        tags=TAGS,
        parameters=[idempotency_parameter(required=False)],
        request=None,
        responses={
            202: QueuedSerializer,
            403: refusal(CHANGE),
            409: error_response("`invalid_state`: the endpoint is being deleted."),
            422: KEY_REUSED,
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        key = idempotency_key(request, required=False)

        def ping() -> Response:
            event = services.endpoint_ping(endpoint_id=pk, actor_id=request.user.pk)
            body = {"event_id": event.webhook_id, "deliveries": 1}
            return Response(body, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, key, ping)


class AttemptsView(StaffView):
    staff_permissions = {"GET": VIEW}

    @extend_schema(tags=TAGS, parameters=[PageQuerySerializer], responses=AttemptPageSerializer)
    def get(self, request: Request, pk: UUID) -> Response:
        attempts = selectors.attempts_of_endpoint(endpoint_id=pk)
        return paged(request, attempts, AttemptPageSerializer)


class ResendView(StaffView):
    staff_permissions = {"POST": RESEND}

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "id",
                {"type": "string", "pattern": f"^(?:{EventIdConverter.regex})$"},
                location=OpenApiParameter.PATH,
                description="The event's id as deliveries show it (`evt_<hex>`), or its UUID.",
            )
        ],
        request=None,
        responses={202: QueuedSerializer, 403: refusal(RESEND)},
    )
    def post(self, request: Request, pk: UUID) -> Response:
        queued = services.event_resend(event_id=pk, actor_id=request.user.pk)
        body = {"event_id": Event(id=pk).webhook_id, "deliveries": queued}
        return Response(body, status=status.HTTP_202_ACCEPTED)
