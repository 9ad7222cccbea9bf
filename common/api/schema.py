"""OpenAPI: every operation documents the errors it can answer, in the contract's shape."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from common.api.errors import STATUS_CODES


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A sentence for a person.")
    code = serializers.CharField(help_text="A stable snake_case code for programs.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for validation errors: messages per field.",
    )


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


class ApiAutoSchema(AutoSchema):
    """Adds 400/401/403/404/429 where they can happen, unless a view documents them itself."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._possible_errors():
            if str(status) not in responses:
                described = error_response(STATUS_CODES[status][1])
                responses[str(status)] = self._get_response_for_code(
                    described, str(status), direction=direction
                )
        return responses

    def _possible_errors(self) -> list[int]:
        statuses = []
        has_query = any(parameter["in"] == "query" for parameter in self._get_parameters())
        if self.method in {"POST", "PUT", "PATCH"} or has_query:
            statuses.append(400)
        permission_classes = [type(permission) for permission in self.view.get_permissions()]
        if permissions.AllowAny not in permission_classes:
            statuses.append(401)
        if permissions.IsAdminUser in permission_classes:
            statuses.append(403)
        if "{" in self.path:
            statuses.append(404)
        if self.view.get_throttles():
            statuses.append(429)
        return statuses
