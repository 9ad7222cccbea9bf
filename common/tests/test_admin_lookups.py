"""A list's query string that the database cannot run is answered as Django answers a filter
on an unknown field, with the list again and "?e=1" (Django let these through to a 500: a
staff member's typo, a bookmark of a year's page, or a probe)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"accounts", "catalog", "billing", "tokens", "events"}


@pytest.mark.parametrize(
    ("changelist", "query"),
    [
        ("billing_invoice", {"status__exact": "paid\x00"}),
        ("tokens_tokenlot", {"category": "\x00"}),
        ("events_deliveryattempt", {"status_code__in": "99999999999999999999"}),
        ("accounts_apikey", {"revoked_at__year": "-1"}),
        ("tokens_tokenlot", {"expires_at__year": "99999999999999999999"}),
        ("billing_invoice", {"created_at__year": "9999"}),
        ("tokens_tokentransaction", {"created_at__year": "9999", "created_at__month": "12"}),
        ("events_event", {"created_at__year": "99999999999999999999"}),
    ],
    ids=[
        "nul-in-choice",
        "nul-alone",
        "integer-beyond-column",
        "negative-year",
        "year-beyond-c-long",
        "hierarchy-year-9999",
        "hierarchy-december-9999",
        "hierarchy-year-beyond-c-long",
    ],
)
def test_a_filter_the_database_cannot_run_is_the_lists_error_page(staff_browser, changelist, query):
    url = reverse(f"admin:{changelist}_changelist")

    response = staff_browser.get(url, query)

    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"


def test_every_list_of_the_project_checks_its_filters():
    from common.admin import ChangeList

    admins = [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT_APPS
    ]

    assert [a for a in admins if a.get_changelist(None) is not ChangeList] == []
