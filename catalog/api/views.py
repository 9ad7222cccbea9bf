from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import StaffMayChangeModel, refusal
from catalog import selectors, services
from catalog.api.listing import listing
from catalog.api.serializers import (
    AddOnWriteSerializer,
    PlanWriteSerializer,
    PublicAddOnListSerializer,
    PublicPlanListSerializer,
    StaffAddOnSerializer,
    StaffPlanSerializer,
    StaffTokenBundleSerializer,
    TokenBundleOfferListSerializer,
    TokenBundleWriteSerializer,
)
from catalog.filters import ORDERING_CHOICES, SEARCH_MAX_LENGTH, TRUE_OR_FALSE
from catalog.models import AddOn, CatalogItem, Plan, TokenBundle
from common.api.fastpath import CommonCaseFirst
from common.api.pagination import PagePagination
from common.api.schema import error_response


def listing_schema(serializer: type[serializers.Serializer]) -> dict:
    return {
        "tags": ["catalog"],
        "parameters": [
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description="An `ETag` of this listing: 304 with no body while it is current.",
            )
        ],
        "responses": {
            200: OpenApiResponse(
                serializer, description="`ETag`, `Cache-Control: public, no-cache`."
            ),
            304: OpenApiResponse(description="The listing is unchanged since that `ETag`."),
        },
    }


# Read on every visit to the prices: the common case (plain JSON, within the anonymous limit)
# is answered beside DRF (common.api.fastpath).
class PublicCatalogView(CommonCaseFirst):
    """No authentication at all, so a stale token in the SPA never breaks the listing."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    listing_name: str

    def listing_data(self) -> dict:
        raise NotImplementedError

    def get(self, request: Request) -> HttpResponse:
        return self.common_case_response(request)

    def common_case_response(self, request: HttpRequest) -> HttpResponse:
        return listing(self.listing_name, self.listing_data).response(request)


@extend_schema_view(get=extend_schema(**listing_schema(TokenBundleOfferListSerializer)))
class TokenBundleListView(PublicCatalogView):
    listing_name = "token-bundles"

    def listing_data(self) -> dict:
        return TokenBundleOfferListSerializer({"items": selectors.bundles_for_sale()}).data


@extend_schema_view(get=extend_schema(**listing_schema(PublicAddOnListSerializer)))
class AddOnListView(PublicCatalogView):
    listing_name = "add-ons"

    def listing_data(self) -> dict:
        return PublicAddOnListSerializer({"items": selectors.add_ons_for_sale()}).data


@extend_schema_view(get=extend_schema(**listing_schema(PublicPlanListSerializer)))
class PlanListView(PublicCatalogView):
    listing_name = "plans"

    def listing_data(self) -> dict:
        return PublicPlanListSerializer({"items": selectors.plans_for_sale()}).data


STAFF_LIST_PARAMETERS = [
    OpenApiParameter(
        "include_inactive",
        str,
        enum=[value for value, _ in TRUE_OR_FALSE],
        description="Default false.",
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": SEARCH_MAX_LENGTH, "pattern": "^[^\\x00]*$"},
        description="Part of the name, any case.",
    ),
    OpenApiParameter("ordering", str, enum=[value for value, _ in ORDERING_CHOICES]),
]


class CatalogStaffViewSet(viewsets.ViewSet):
    """Staff CRUD for one kind of catalog item; subclasses name the model and serializers."""

    permission_classes = [permissions.IsAdminUser, StaffMayChangeModel]
    pagination_class = PagePagination
    model: type[CatalogItem]
    output_serializer: type[serializers.Serializer]
    write_serializer: type[serializers.Serializer]

    def list(self, request: Request) -> Response:
        paginator = self.pagination_class()
        try:
            items = selectors.catalog_items_for_staff(
                model=self.model, filters=request.query_params
            )
        except serializers.ValidationError as refused:
            refused.detail.update(paginator.query_refusals(request))
            raise
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(self.output_serializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        payload = self.write_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item = services.catalog_item_create(
            model=self.model, data=payload.validated_data, actor_id=request.user.pk
        )
        return Response(self.output_serializer(item).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: UUID) -> Response:
        item = selectors.catalog_item_get(model=self.model, item_id=pk)
        return Response(self.output_serializer(item).data)

    def update(self, request: Request, pk: UUID) -> Response:
        """PUT and PATCH both take a partial body."""
        payload = self.write_serializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        expected_version = data.pop("version", None)
        item = services.catalog_item_update(
            model=self.model,
            item_id=pk,
            data=data,
            expected_version=expected_version,
            actor_id=request.user.pk,
        )
        return Response(self.output_serializer(item).data)

    partial_update = update

    def destroy(self, request: Request, pk: UUID) -> Response:
        services.catalog_item_delete(model=self.model, item_id=pk, actor_id=request.user.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"], url_path="toggle-active")
    def toggle_active(self, request: Request, pk: UUID) -> Response:
        item = services.catalog_item_toggle_active(
            model=self.model, item_id=pk, actor_id=request.user.pk
        )
        return Response(self.output_serializer(item).data)


def staff_schema(tag: str, output, write, example: dict):
    """The OpenAPI description of a CatalogStaffViewSet subclass; `example` is a valid body
    (Swagger UI shows it; `make fuzz` sends it)."""
    conflict = error_response("`version_conflict`: the body's version is not the current one.")
    in_use = error_response("`in_use`: the item was bought; deactivate it instead.")
    name = output.Meta.model._meta.model_name
    adding, changing, deleting = (
        refusal(f"catalog.{verb}_{name}") for verb in ("add", "change", "delete")
    )
    examples = [OpenApiExample("A typical item", value=example, request_only=True)]

    def operation(description: str, **kwargs):
        return extend_schema(tags=[tag], description=description, **kwargs)

    return extend_schema_view(
        list=operation(
            "A page of items; active ones unless include_inactive=true.",
            parameters=STAFF_LIST_PARAMETERS,
            responses=output(many=True),
        ),
        create=operation(
            "Create an item.",
            request=write,
            responses={201: output, 403: adding},
            examples=examples,
        ),
        retrieve=operation("One item, active or not.", responses=output),
        update=operation(
            "Change an item; the body may be partial. Every change adds 1 to `version`.",
            request=write(partial=True),
            responses={200: output, 403: changing, 409: conflict},
            examples=examples,
        ),
        partial_update=operation(
            "Change an item. Every change adds 1 to `version`.",
            request=write(partial=True),
            responses={200: output, 403: changing, 409: conflict},
            examples=examples,
        ),
        destroy=operation(
            "Delete an item never bought.", responses={204: None, 403: deleting, 409: in_use}
        ),
        toggle_active=operation(
            "Flip `is_active`.", request=None, responses={200: output, 403: changing}
        ),
    )


@staff_schema(
    "staff: token bundles",
    StaffTokenBundleSerializer,
    TokenBundleWriteSerializer,
    {"name": "Starter", "price": "45.00", "token_amount": 50, "sort_order": 1},
)
class TokenBundleStaffViewSet(CatalogStaffViewSet):
    model = TokenBundle
    output_serializer = StaffTokenBundleSerializer
    write_serializer = TokenBundleWriteSerializer


@staff_schema(
    "staff: add-ons",
    StaffAddOnSerializer,
    AddOnWriteSerializer,
    {"name": "Priority support", "price": "9.00", "billing_period": "monthly"},
)
class AddOnStaffViewSet(CatalogStaffViewSet):
    model = AddOn
    output_serializer = StaffAddOnSerializer
    write_serializer = AddOnWriteSerializer


@staff_schema(
    "staff: plans",
    StaffPlanSerializer,
    PlanWriteSerializer,
    {"name": "Team", "price": "29.00", "billing_period": "monthly", "is_active": True},
)
class PlanStaffViewSet(CatalogStaffViewSet):
    model = Plan
    output_serializer = StaffPlanSerializer
    write_serializer = PlanWriteSerializer
