"""A list's query string that the database cannot run is answered as Django answers a filter
on an unknown field, with the list again and "?e=1", and an action on ids that are no ids of
the model changes nothing and says so (Django let these through to a 500: a staff member's
typo, a bookmark of a year's page, a hand-made POST, or a probe)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

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
        ("events_event", {"created_at__year": "99999999999999999999"}),
        ("django_tasks_database_dbtaskresult", {"status__exact": "x\x00"}),
        ("django_tasks_database_dbtaskresult", {"priority__in": "99999999999999999999"}),
    ],
    ids=[
        "nul-in-choice",
        "nul-alone",
        "integer-beyond-column",
        "negative-year",
        "year-beyond-c-long",
        "events-year-beyond-c-long",
        "task-results-nul-in-choice",
        "task-results-integer-beyond-column",
    ],
)
def test_a_filter_the_database_cannot_run_is_the_lists_error_page(staff_browser, changelist, query):
    if "\x00" in "".join(query.values()) and connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL refuses a NUL character in text")
    url = reverse(f"admin:{changelist}_changelist")

    response = staff_browser.get(url, query)

    assert response.status_code == 302
    assert response["Location"] == f"{url}?e=1"


def test_every_list_of_the_admin_checks_its_filters():
    """The project's lists and the ones its dependencies register (task results, groups)."""
    from common.admin import ChangeList

    admins = list(admin.site._registry.values())
    apps = {a.model._meta.app_label for a in admins}

    assert apps >= PROJECT_APPS | {"auth", "django_tasks_database"}
    assert [a for a in admins if a.get_changelist(None) is not ChangeList] == []


@pytest.mark.parametrize(
    ("changelist", "action"),
    [
        ("catalog_tokenbundle", "deactivate"),
        ("billing_invoice", "cancel"),
        ("accounts_user", "deactivate_users"),
        ("events_webhookendpoint", "delete_selected"),
        ("auth_group", "delete_selected"),
    ],
    ids=[
        "bundle-deactivate",
        "invoice-cancel",
        "user-deactivate",
        "endpoint-delete",
        "group-delete",
    ],
)
def test_an_action_on_a_selection_of_malformed_ids_changes_nothing_and_says_so(
    staff_browser, changelist, action
):
    TokenBundleFactory()
    Group.objects.create(name="Support")
    url = reverse(f"admin:{changelist}_changelist")
    before = database_state()
    groups_before = list(Group.objects.order_by("pk").values_list())

    response = staff_browser.post(
        url, {"action": action, ACTION_CHECKBOX_NAME: ["not-a-uuid", "1"], "index": "0"}
    )

    assert response.status_code == 302
    assert database_state() == before
    assert list(Group.objects.order_by("pk").values_list()) == groups_before
    page = staff_browser.get(url).content.decode()
    assert "The selection names no such rows. Nothing was changed." in page


def _reverse_relations() -> list[tuple[str, str]]:
    """Every registered admin with the name of each relation that points at its model from
    elsewhere (an invoice's line items, a user's ledger accounts, a group's users)."""
    return [
        (f"{model._meta.app_label}_{model._meta.model_name}", field.name)
        for model in admin.site._registry
        for field in model._meta.get_fields()
        if field.auto_created and not field.concrete
    ]


@pytest.mark.parametrize(("changelist", "to_field"), _reverse_relations())
def test_a_reverse_relation_as_to_field_is_refused_as_an_unknown_field_is(
    staff_browser, changelist, to_field
):
    """`_to_field` names the field a related-object popup picks by; a relation that points
    here has no value of its own to pick, and Django read its `primary_key`, which it has
    not (AttributeError: a 500 on the list, the add and the change pages)."""
    url = reverse(f"admin:{changelist}_changelist")

    responses = [
        staff_browser.get(url, {"_to_field": to_field, "_popup": "1"}),
        staff_browser.get(url, {"_to_field": "no_such_field"}),
    ]

    assert [r.status_code for r in responses] == [400, 400]
