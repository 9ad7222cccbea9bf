"""The user's low-balance alert: GET and PUT /user/alerts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.fields import StrictIntegerField
from tokens import services
from tokens.services.alerts import MAX_THRESHOLD, threshold_of


class AlertsSerializer(serializers.Serializer):
    low_balance_threshold = StrictIntegerField(
        min_value=0,
        max_value=MAX_THRESHOLD,
        allow_null=True,
        help_text="Below this balance `tokens.low_balance` is sent; null: the default; 0: never.",
    )


class AlertsResponseSerializer(AlertsSerializer):
    effective_threshold = serializers.IntegerField(
        read_only=True, help_text="The threshold in force (the default when yours is null)."
    )


class AlertsView(APIView):
    @extend_schema(tags=["alerts"], responses=AlertsResponseSerializer)
    def get(self, request: Request) -> Response:
        return _answer(services.alerts_get(user_id=request.user.pk))

    @extend_schema(tags=["alerts"], request=AlertsSerializer, responses=AlertsResponseSerializer)
    def put(self, request: Request) -> Response:
        payload = AlertsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        threshold = payload.validated_data["low_balance_threshold"]
        return _answer(services.alerts_set(user_id=request.user.pk, threshold=threshold))


def _answer(own: int | None) -> Response:
    return Response({"low_balance_threshold": own, "effective_threshold": threshold_of(own)})
