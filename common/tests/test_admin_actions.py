"""The admin's list actions ask for the same permission as the change they make: staff who may
only view a list get none of its actions (before, a view-only staff member could mark an
invoice paid, crediting its tokens, from the invoice list, or delete a currency)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = pytest.mark.django_db


def staff_with(*codenames: str):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(staff).objects.get(pk=staff.pk)  # permissions are cached per instance


def actions_for(user) -> dict[str, list[str]]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return {
        model._meta.label: sorted(name for name in model_admin.get_actions(request))
        for model, model_admin in admin.site._registry.items()
        if model_admin.get_actions(request)
    }


def test_staff_who_may_only_view_get_no_action_anywhere():
    viewer = staff_with(
        *Permission.objects.filter(codename__startswith="view_").values_list("codename", flat=True)
    )

    assert actions_for(viewer) == {}


def test_staff_who_may_change_get_every_action():
    superuser = UserFactory(is_staff=True, is_superuser=True)

    assert actions_for(superuser) == {
        "accounts.ApiKey": ["revoke"],
        "accounts.User": ["activate_users", "deactivate_users"],
        "auth.Group": ["delete_selected"],
        "billing.Invoice": ["cancel", "mark_paid", "refund"],
        "billing.PaymentEvent": ["mark_handled", "refund_at_stripe", "reprocess"],
        "catalog.AddOn": ["activate", "deactivate", "delete_unbought"],
        "catalog.Currency": ["delete_selected"],
        "catalog.Plan": ["activate", "deactivate", "delete_unbought"],
        "catalog.TokenBundle": ["activate", "deactivate", "delete_unbought"],
        "events.Event": ["resend"],
        "events.WebhookEndpoint": ["delete_selected", "lift_pause", "ping", "turn_on"],
    }


def test_a_view_only_staff_member_posting_mark_paid_changes_nothing(client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("9.00"))]).invoice
    client.force_login(staff_with("view_invoice"))
    before = database_state()

    response = client.post(
        reverse("admin:billing_invoice_changelist"),
        {
            "action": "mark_paid",
            ACTION_CHECKBOX_NAME: [str(invoice.pk)],
            "apply": "1",
            "payment_reference": "nothing was paid",
        },
    )

    assert response.status_code in (200, 302)
    assert database_state() == before
