"""Query-string filters for the staff catalog lists."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

TRUE_OR_FALSE = [("true", "true"), ("false", "false")]


class CatalogItemFilter(django_filters.FilterSet):
    include_inactive = django_filters.ChoiceFilter(
        choices=TRUE_OR_FALSE, method="filter_include_inactive", empty_label=None
    )
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=255)
    ordering = django_filters.OrderingFilter(
        fields=["sort_order", "price", "name", "created_at"],
    )

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """Inactive items stay hidden unless asked for, also when the parameter is absent."""
        if self.form.cleaned_data.get("include_inactive") != "true":
            queryset = queryset.filter(is_active=True)
        return super().filter_queryset(queryset)

    def filter_include_inactive(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Applied in `filter_queryset`, which also sees the parameter being absent."""
        return queryset
