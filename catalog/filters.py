"""Query-string filters for the staff catalog lists, checked like a body (common.api.query)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from common.api.query import StrictQueryForm

TRUE_OR_FALSE = [("true", "true"), ("false", "false")]
ORDERING_FIELDS = ["sort_order", "price", "name", "created_at"]
ORDERING_CHOICES = [
    (f"{sign}{field}", f"{sign}{field}") for field in ORDERING_FIELDS for sign in ["", "-"]
]
SEARCH_MAX_LENGTH = 255


class CatalogItemFilter(django_filters.FilterSet):
    include_inactive = django_filters.ChoiceFilter(
        choices=TRUE_OR_FALSE, method="filter_include_inactive", empty_label=None
    )
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", max_length=SEARCH_MAX_LENGTH
    )
    ordering = django_filters.ChoiceFilter(
        choices=ORDERING_CHOICES, method="filter_ordering", empty_label=None
    )

    class Meta:
        form = StrictQueryForm

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Inactive items stay hidden unless asked for, also when the parameter is absent."""
        if self.form.cleaned_data.get("include_inactive") != "true":
            queryset = queryset.filter(is_active=True)
        return super().filter_queryset(queryset)

    def filter_include_inactive(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Applied in `filter_queryset`, which also sees the parameter being absent."""
        return queryset

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """One field, as the contract lists them (django-filter's OrderingFilter would also
        take a comma-separated list the schema does not describe); ties in id order."""
        return queryset.order_by(value, "id")
