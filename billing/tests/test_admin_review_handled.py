"""Payment events flagged `needs_review` can be marked handled in the admin: who, when and
what was done are recorded, and reconciliation counts and lists only the events nobody has
settled. Before, the admin offered only re-process, so a settled event stayed counted in
every run and alert and the count only grew: new trouble looked like old."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from billing.models import Invoice, PaymentEvent
from billing.services.events import event_record
from billing.tests.helpers import checkout, payment_body
from billing.tests.reconcile_helpers import reconcile
from catalog.tests.factories import TokenBundleFactory
from common.tests.helpers import database_state

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

EVENTS = "admin:billing_paymentevent_changelist"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def flagged(user, event_id: str) -> PaymentEvent:
    """A verified payment notice for a pending invoice, flagged for a person to look at."""
    invoice = checkout(user, bundles=[TokenBundleFactory()]).invoice
    return event_record(
        provider="payment",
        payload=payment_body(invoice, event_id=event_id, payment_reference=event_id).decode(),
        signature_valid=True,
        event_id=event_id,
        outcome="needs_review",
        error=f"{event_id}: paid at the provider, not capturable here",
    )


def mark_handled(client: Client, events: list, note: str | None = "Refunded by hand.", **more):
    data = {"action": "mark_handled", ACTION_CHECKBOX_NAME: [e.pk for e in events], **more}
    if note is not None:
        data.update(apply="1", note=note)
    return client.post(reverse(EVENTS), data, follow=True)


def test_marking_an_event_handled_takes_it_off_reconciliations_count_and_list(
    staff_browser, staff_user, user, time_machine
):
    settled, pending = flagged(user, "evt-old"), flagged(user, "evt-new")
    before, _ = reconcile()
    assert before["payments_needing_review"] == 2

    time_machine.move_to(NOW, tick=False)
    asked = mark_handled(staff_browser, [settled], note=None)
    assert "Mark handled" in asked.content.decode()
    assert PaymentEvent.objects.get(pk=settled.pk).handled_at is None
    page = mark_handled(staff_browser, [settled], note="  Refunded by hand at the provider. ")

    assert [str(m) for m in page.context["messages"]] == ["evt-old is handled."]
    settled.refresh_from_db()
    assert (settled.outcome, settled.handled_at, settled.handled_by, settled.handled_note) == (
        "needs_review",
        NOW,
        staff_user,
        "Refunded by hand at the provider.",
    )
    after, code = reconcile()
    assert (code, after["payments_needing_review"]) == (0, 1)
    assert [line.split(" (")[0] for line in after["needs_review"]] == ["payment event evt-new"]
    assert PaymentEvent.objects.get(pk=pending.pk).handled_at is None


def test_a_handled_event_can_still_be_reprocessed(staff_browser, user):
    event = flagged(user, "evt-1")
    mark_handled(staff_browser, [event])

    staff_browser.post(reverse(EVENTS), {"action": "reprocess", ACTION_CHECKBOX_NAME: [event.pk]})

    event.refresh_from_db()
    assert (event.outcome, event.handled_at, event.handled_by, event.handled_note) == (
        "processed",
        None,
        None,
        "",
    )
    assert Invoice.objects.get(pk=event.invoice_id).status == "paid"


def test_an_unhandled_review_event_is_still_reprocessed(staff_browser, user):
    event = flagged(user, "evt-1")

    staff_browser.post(reverse(EVENTS), {"action": "reprocess", ACTION_CHECKBOX_NAME: [event.pk]})

    event.refresh_from_db()
    assert (event.outcome, event.handled_at) == ("processed", None)


def test_a_user_who_is_not_staff_cannot_mark_handled(client, user):
    event = flagged(user, "evt-1")
    client.force_login(UserFactory())
    before = database_state()

    response = mark_handled(client, [event])

    assert response.redirect_chain[0][0].startswith(reverse("admin:login"))
    assert database_state() == before


def test_staff_who_may_only_view_payments_cannot_mark_handled(client, user):
    event = flagged(user, "evt-1")
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_paymentevent"))
    client.force_login(viewer)
    before = database_state()

    response = mark_handled(client, [event])

    assert response.status_code == 200
    assert database_state() == before


@pytest.mark.parametrize("note", ["", "   ", "\u200b\u2060 ", "x" * 501, "null\x00byte"])
def test_a_malformed_note_asks_again_and_changes_nothing(staff_browser, user, note):
    """A note of invisible characters alone settled the event saying nothing of what was
    done, and reconciliation no longer counted it."""
    event = flagged(user, "evt-1")
    before = database_state()

    page = mark_handled(staff_browser, [event], note=note)

    assert page.status_code == 200
    assert 'class="errorlist' in page.content.decode()
    assert database_state() == before


def test_events_not_needing_review_or_handled_already_are_refused(staff_browser, user):
    processed = event_record(
        provider="payment",
        payload="{}",
        signature_valid=True,
        event_id="evt-p",
        outcome="processed",
        error="",
    )
    handled = flagged(user, "evt-h")
    mark_handled(staff_browser, [handled], note="First.")
    before = database_state()

    page = mark_handled(staff_browser, [processed, handled], note="Second.")

    told = "\n".join(str(message) for message in page.context["messages"])
    assert "Only an event needing review is settled by a person. Nothing changed." in told
    assert "This event was settled already. Nothing changed." in told
    assert database_state() == before


def test_a_selection_that_is_not_an_event_id_changes_nothing(staff_browser, user):
    flagged(user, "evt-1")
    before = database_state()

    response = staff_browser.post(
        reverse(EVENTS),
        {"action": "mark_handled", ACTION_CHECKBOX_NAME: ["not-an-id"], "apply": "1", "note": "x"},
    )

    assert response.status_code < 500
    assert database_state() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"outcome": "processed"},
        {"handled_note": ""},
        {"handled_by": None},
    ],
)
def test_the_database_refuses_a_settlement_that_is_not_whole(staff_user, user, fields):
    event = flagged(user, "evt-1")
    settled = {"handled_at": NOW, "handled_by": staff_user, "handled_note": "Done."}

    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentEvent.objects.filter(pk=event.pk).update(**{**settled, **fields})
