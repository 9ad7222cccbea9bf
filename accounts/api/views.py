from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    LoginRequestSerializer,
    LoginResponseSerializer,
    RefreshRequestSerializer,
    RefreshResponseSerializer,
    RegisteredUserSerializer,
    RegisterRequestSerializer,
    UserSerializer,
)
from common.api.schema import error_response
from common.api.throttling import AuthThrottle


class AuthView(APIView):
    """Unauthenticated and throttled by THROTTLE_AUTH (per client address)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [AuthThrottle]
    throttle_scope = "auth"


class RegisterView(AuthView):
    @extend_schema(
        tags=["auth"],
        request=RegisterRequestSerializer,
        responses={201: RegisteredUserSerializer},
    )
    def post(self, request: Request) -> Response:
        payload = RegisterRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = services.user_register(**payload.validated_data)
        return Response(RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(AuthView):
    @extend_schema(
        tags=["auth"],
        request=LoginRequestSerializer,
        responses={
            200: LoginResponseSerializer,
            401: error_response("`invalid_credentials`: wrong email or password."),
        },
    )
    def post(self, request: Request) -> Response:
        payload = LoginRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = selectors.user_authenticate(request=request, **payload.validated_data)
        body = {**selectors.token_pair_for(user), "user": user}
        return Response(LoginResponseSerializer(body).data)


class RefreshView(AuthView):
    @extend_schema(
        tags=["auth"],
        request=RefreshRequestSerializer,
        responses={
            200: RefreshResponseSerializer,
            401: error_response("The refresh token is invalid or expired."),
        },
    )
    def post(self, request: Request) -> Response:
        payload = RefreshRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access = selectors.access_token_refresh(**payload.validated_data)
        return Response(RefreshResponseSerializer({"access": access}).data)


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)
