from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from accounts.models import User
from accounts.services import password_refusals
from common.api.fields import TextField
from common.api.pagination import page_serializer


class RegisterRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, trim_whitespace=False)
    password = TextField(trim_whitespace=False, write_only=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """A refused email names a refused password too (Django's validators, which
        user_register runs once both fields are well-formed): a sign-up form shows every
        error at once."""
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            password = data.get("password") if isinstance(data, Mapping) else None
            if isinstance(error.detail, dict) and isinstance(password, str):
                email = data.get("email")
                refused = password_refusals(
                    password=password, email=email if isinstance(email, str) else ""
                )
                if refused and "password" not in error.detail:
                    error.detail["password"] = refused
            raise


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email"]


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "is_staff"]


class LoginRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, trim_whitespace=False)
    password = TextField(trim_whitespace=False, write_only=True)


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class RefreshRequestSerializer(serializers.Serializer):
    refresh = TextField()


class LogoutRequestSerializer(serializers.Serializer):
    refresh = TextField(help_text="The refresh token to sign out with.")


class RefreshResponseSerializer(serializers.Serializer):
    access = serializers.CharField()


class ApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The start of the secret, to tell keys apart.")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    secret = serializers.CharField(
        allow_null=True,
        help_text=(
            "`tbk_…`: shown in this answer only; null when the answer is replayed for its "
            "`Idempotency-Key` (the secret is kept only as a hash)."
        ),
    )


ApiKeyPageSerializer = page_serializer(ApiKeySerializer(many=True), "ApiKeyPage")


class ApiKeyCreateRequestSerializer(serializers.Serializer):
    name = TextField(max_length=100)
