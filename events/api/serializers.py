from __future__ import annotations

from rest_framework import serializers

from common.api.fields import FlagField, TextField
from common.api.pagination import page_serializer
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


class EndpointCreateSerializer(serializers.Serializer):
    url = TextField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        min_length=1,
        max_length=50,
    )
    description = TextField(max_length=500, required=False, allow_blank=True)


class EndpointChangeSerializer(serializers.Serializer):
    url = TextField(max_length=2000, required=False)
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
