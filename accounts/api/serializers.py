from __future__ import annotations

from rest_framework import serializers

from accounts.models import User
from common.api.fields import TextField


class RegisterRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, trim_whitespace=False)
    password = TextField(max_length=128, trim_whitespace=False, write_only=True)


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
    password = TextField(max_length=128, trim_whitespace=False, write_only=True)


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class RefreshRequestSerializer(serializers.Serializer):
    refresh = TextField()


class RefreshResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
