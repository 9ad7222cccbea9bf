"""Page paging in the contract's shape, refusing out-of-range pages instead of clamping them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.fields import StrictIntegerField
from common.api.query import QuerySerializer

MAX_PER_PAGE = 100
# Far past any real list, and small enough that (page - 1) * per_page is a valid SQL OFFSET.
MAX_PAGE = 2_147_483_647


class QueryIntegerField(StrictIntegerField):
    """Query strings carry text; accept digits only ("1", not "1.0" or " 1")."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.isascii() and data.isdigit():
            data = int(data)
        return super().to_internal_value(data)


class PageQuerySerializer(QuerySerializer):
    page = QueryIntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    per_page = QueryIntegerField(min_value=1, max_value=MAX_PER_PAGE, default=20)


def page_count(*, page: int, per_page: int, total: int) -> int:
    """How many pages `total` items make; raises a 400 naming `page` when it is past the last."""
    pages = math.ceil(total / per_page)
    if page > max(pages, 1):
        raise serializers.ValidationError(
            {"page": [f"Page {page} is past the last page ({pages})."]}
        )
    return pages


class PagePagination(BasePagination):
    """`{"items", "total", "page", "per_page", "pages"}`; two queries: a count and the page."""

    def paginate_queryset(self, queryset, request, view=None) -> list:
        params = PageQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        self.page = params.validated_data["page"]
        self.per_page = params.validated_data["per_page"]
        self.total = queryset.count()
        self.pages = page_count(page=self.page, per_page=self.per_page, total=self.total)
        start = (self.page - 1) * self.per_page
        return list(queryset[start : start + self.per_page])

    def query_refusals(self, request: Request) -> dict[str, list[str]]:
        """The page parameters' refusals, for a list whose filters are refused first: named
        beside them, as docs/api.md promises every refused field is."""
        params = PageQuerySerializer(data=request.query_params)
        return {} if params.is_valid() else params.errors

    def get_paginated_response(self, data: list) -> Response:
        return Response(
            {
                "items": data,
                "total": self.total,
                "page": self.page,
                "per_page": self.per_page,
                "pages": self.pages,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        integer = {"type": "integer"}
        return {
            "type": "object",
            "required": ["items", "total", "page", "per_page", "pages"],
            "properties": {
                "items": schema,
                "total": integer,
                "page": integer,
                "per_page": integer,
                "pages": integer,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": "Page number, from 1; past the last page is a 400.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            },
            {
                "name": "per_page",
                "in": "query",
                "required": False,
                "description": f"Items per page, 1..{MAX_PER_PAGE}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20},
            },
        ]


def page_of(items: Sequence | QuerySet, *, page: int, per_page: int) -> dict:
    """One numbered page of `items` in the contract's shape (a count and a slice: two queries
    for a queryset); raises a 400 naming `page` when it is past the last."""
    total = items.count() if isinstance(items, QuerySet) else len(items)
    pages = page_count(page=page, per_page=per_page, total=total)
    start = (page - 1) * per_page
    return {
        "items": list(items[start : start + per_page]),
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": pages,
    }


def page_serializer(item: serializers.Serializer, name: str) -> type[serializers.Serializer]:
    """The serializer (and OpenAPI component `name`) of a page of `item`s."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "items": item,
            "total": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "per_page": serializers.IntegerField(),
            "pages": serializers.IntegerField(),
        },
    )
