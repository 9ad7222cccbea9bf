from __future__ import annotations

from uuid import UUID

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateRequestSerializer,
    ApiKeyPageSerializer,
    ApiKeySerializer,
    LoginRequestSerializer,
    LoginResponseSerializer,
    LogoutRequestSerializer,
    RefreshRequestSerializer,
    RefreshResponseSerializer,
    RegisteredUserSerializer,
    RegisterRequestSerializer,
    UserSerializer,
)
from accounts.api.throttling import RefreshThrottle
from accounts.permissions import StaffMayAddApiKeys
from common.api.idempotency import idempotency_key, idempotency_parameter, idempotent
from common.api.pagination import PageQuerySerializer, page_of
from common.api.schema import error_response
from common.api.throttling import AuthThrottle


class AuthView(APIView):
    """Unauthenticated; password guesses and sign-ups are throttled by THROTTLE_AUTH (per
    client address; the login also per email address, accounts.services.sign_in_attempt_count).
    """

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
            429: error_response(
                "`throttled`: too many attempts from this client address, or to sign in as "
                "this email address (counted with the sign-in page's and /admin/login/'s); "
                "the password was not checked."
            ),
        },
    )
    # Bearer tokens: no browser or proxy may keep them.
    @method_decorator(never_cache)
    def post(self, request: Request) -> Response:
        payload = LoginRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        wait = services.sign_in_attempt_count(email=payload.validated_data["email"])
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        user = selectors.user_authenticate(request=request, **payload.validated_data)
        body = {**selectors.token_pair_for(user), "user": user}
        return Response(LoginResponseSerializer(body).data)


class RefreshView(APIView):
    """Unauthenticated; a signed refresh token cannot be guessed, so it is throttled per user
    and anything else per client address (accounts.api.throttling), never by THROTTLE_AUTH."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [RefreshThrottle]

    @extend_schema(
        tags=["auth"],
        request=RefreshRequestSerializer,
        responses={
            200: RefreshResponseSerializer,
            401: error_response("The refresh token is invalid or expired."),
            429: error_response(
                "`throttled`: too many refreshes for this token's user (`THROTTLE_REFRESH`), "
                "or too many invalid or expired refresh tokens from this client address "
                "(`THROTTLE_INVALID_REFRESH`)."
            ),
        },
    )
    # Bearer tokens: no browser or proxy may keep them.
    @method_decorator(never_cache)
    def post(self, request: Request) -> Response:
        payload = RefreshRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access = selectors.access_token_refresh(**payload.validated_data)
        return Response(RefreshResponseSerializer({"access": access}).data)


class LogoutView(APIView):
    """Signs out with a refresh token: it refreshes no more (services.refresh_token_revoke).
    Unauthenticated (the refresh token is the credential) and throttled as refresh is."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [RefreshThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Sign out with a refresh token",
        description=(
            "The refresh token refreshes no more (401 `not_authenticated`); the user's other "
            "refresh tokens go on. Signing out again with it is 204 too. Access tokens "
            "already issued last their 5 minutes."
        ),
        request=LogoutRequestSerializer,
        responses={
            204: None,
            401: error_response("The refresh token is invalid or expired; nothing changed."),
            429: error_response(
                "`throttled`: counted with refresh (`THROTTLE_REFRESH`, "
                "`THROTTLE_INVALID_REFRESH`)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        payload = LogoutRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        token, _user_id, _digest = selectors.refresh_token_read(payload.validated_data["refresh"])
        services.refresh_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(tags=["auth"], responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(selectors.active_user_get(user_id=request.user.pk)).data)


class StaffApiKeysView(APIView):
    permission_classes = [permissions.IsAdminUser, StaffMayAddApiKeys]

    @extend_schema(
        tags=["staff: api keys"], parameters=[PageQuerySerializer], responses=ApiKeyPageSerializer
    )
    def get(self, request: Request) -> Response:
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = page_of(selectors.api_keys_list(), **query.validated_data)
        return Response(ApiKeyPageSerializer(body).data)

    @extend_schema(
        tags=["staff: api keys"],
        parameters=[idempotency_parameter(required=False)],
        request=ApiKeyCreateRequestSerializer,
        responses={
            201: ApiKeyCreatedSerializer,
            403: StaffMayAddApiKeys.refused,
            422: error_response("`idempotency_key_reused`: the key came with another body."),
        },
    )
    # A secret is shown once: no browser or proxy may keep it (nor its replay).
    @method_decorator(never_cache)
    def post(self, request: Request) -> Response:
        key = idempotency_key(request, required=False, body=ApiKeyCreateRequestSerializer)
        payload = ApiKeyCreateRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)

        def create() -> Response:
            created = services.api_key_create(
                name=payload.validated_data["name"], actor_id=request.user.pk
            )
            body = {**ApiKeySerializer(created.key).data, "secret": created.secret}
            return Response(ApiKeyCreatedSerializer(body).data, status=status.HTTP_201_CREATED)

        # The secret is kept only as a hash: a replay shows the key without it.
        return idempotent(request, key, create, kept=lambda body: {**body, "secret": None})


class StaffApiKeyView(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(tags=["staff: api keys"], responses={204: None})
    def delete(self, request: Request, pk: UUID) -> Response:
        services.api_key_revoke(key_id=pk, actor_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
