"""Finding a customer's rows in the tokens' admin lists, which grow with every use."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.selectors import user_ids_with_email


class EmailSearch:
    """A search for a whole email address lists that customer's rows, found through the
    unique index on the address and the account's own indexes. Django's search looks for the
    term inside every search field (`UPPER(email) LIKE '%...%'`), which no index serves: it
    read every user and every row of the list's table (1M ledger entries: 3.5 s, the page's
    four queries each a full scan), and grew with the ledger until the statement timeout
    refused it. Any other term (part of an address, a reference) is Django's search."""

    user_path = "account__user"
    # Counting the whole table for "(N total)" beside every search reads every row too.
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        try:
            validate_email(term)
        except ValidationError:
            return super().get_search_results(request, queryset, search_term)
        user_ids = user_ids_with_email(email=term)
        return queryset.filter(**{f"{self.user_path}__in": user_ids}), False
