"""Staff roles in the catalog API: creating, changing, (de)activating and deleting bundles,
add-ons and plans need the admin's add, change and delete permissions for that kind. A
support agent given view permissions only repriced a bundle through the staff API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.tests.factories import staff_in_role
from catalog.tests.factories import AddOnFactory, PlanFactory, TokenBundleFactory
from common.tests.helpers import database_state
from conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

KINDS = {
    "token-bundles": ("tokenbundle", TokenBundleFactory, {"token_amount": 10}),
    "add-ons": ("addon", AddOnFactory, {"billing_period": "one_time"}),
    "plans": ("plan", PlanFactory, {"billing_period": "yearly"}),
}


@pytest.fixture(params=list(KINDS))
def kind(request) -> str:
    return request.param


def every_write(client, kind: str, item) -> list[tuple[int, str | None]]:
    base = f"/api/v1/admin/{kind}"
    answers = [
        client.post(base, {"name": "New", "price": "1.00", **KINDS[kind][2]}),
        client.patch(f"{base}/{item.pk}", {"price": "0.01"}),
        client.put(f"{base}/{item.pk}", {"price": "0.01"}),
        client.post(f"{base}/{item.pk}/toggle-active"),
        client.delete(f"{base}/{item.pk}"),
    ]
    return [(a.status_code, a.json().get("code") if a.content else None) for a in answers]


def test_staff_whose_role_is_view_only_change_no_catalog_item(kind):
    item = KINDS[kind][1](price=Decimal("9.00"))
    agent = client_for(staff_in_role(f"catalog.view_{KINDS[kind][0]}"))
    before = database_state()

    answers = every_write(agent, kind, item)

    assert answers == [(403, "permission_denied")] * 5
    assert database_state() == before
    assert agent.get(f"/api/v1/admin/{kind}/{item.pk}").status_code == 200


def test_staff_who_may_change_but_not_add_or_delete(kind):
    name = KINDS[kind][0]
    item = KINDS[kind][1](price=Decimal("9.00"))
    editor = client_for(staff_in_role(f"catalog.view_{name}", f"catalog.change_{name}"))

    answers = every_write(editor, kind, item)

    assert [status for status, _ in answers] == [403, 200, 200, 200, 403]
    assert (
        f"catalog.delete_{name}" in editor.delete(f"/api/v1/admin/{kind}/{item.pk}").json()["error"]
    )
