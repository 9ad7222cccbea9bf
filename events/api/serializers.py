from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from common.api.fields import FlagField, TextField
from common.api.pagination import page_serializer
from events import services
from events.addresses import URL_MAX_LENGTH
from events.models import EVENT_TYPES


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField(), source="types")
    is_active = serializers.BooleanField()
    failing_since = serializers.DateTimeField(allow_null=True)
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="`whsec_…`: shown in this answer only.")


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text="`whsec_…`: shown in this answer only; null when the answer is replayed for "
        "its `Idempotency-Key`.",
    )


EndpointPageSerializer = page_serializer(EndpointSerializer(many=True), "EndpointPage")


class WebhookUrlField(TextField):
    """An endpoint's URL: one over URL_MAX_LENGTH characters is the contract's `invalid_url`
    naming `url`, as every other bad URL is (the schema still says maxLength)."""

    default_error_messages = {
        "max_length": f"The URL has more than {URL_MAX_LENGTH} characters.",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=URL_MAX_LENGTH, **kwargs)


class EndpointWriteSerializer(serializers.Serializer):
    """A bad URL alone is the contract's 400 `invalid_url`; with other fields refused too, it
    is named beside them in one `validation_error` (checked as endpoint_url_refusal checks
    it, the host name's resolution included), so staff correct them all at once."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            detail = error.detail
            url = data.get("url") if isinstance(data, Mapping) else None
            if not isinstance(detail, dict):
                raise
            # Checked as it would be saved: the field's value, its ends trimmed.
            refusal = (
                services.endpoint_url_refusal(self.fields["url"].run_validation(url))
                if "url" not in detail and isinstance(url, str)
                else None
            )
            if refusal:
                error.detail = detail = {"url": [refusal], **detail}
            if list(detail) == ["url"] and detail["url"][0].code == "max_length":
                raise services.InvalidUrl(str(detail["url"][0])) from error
            raise


class EndpointCreateSerializer(EndpointWriteSerializer):
    url = WebhookUrlField()
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        min_length=1,
        max_length=50,
    )
    description = TextField(max_length=500, required=False, allow_blank=True)


class EndpointChangeSerializer(EndpointWriteSerializer):
    url = WebhookUrlField(required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        min_length=1,
        max_length=50,
        required=False,
    )
    description = TextField(max_length=500, required=False, allow_blank=True)
    is_active = FlagField(required=False)


class AttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.CharField(source="delivery.event.webhook_id")
    event_type = serializers.CharField(source="delivery.event.type")
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()


AttemptPageSerializer = page_serializer(AttemptSerializer(many=True), "AttemptPage")


class QueuedSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    deliveries = serializers.IntegerField()
