"""Two superusers change each other on the user admin's change page at the same moment, on
PostgreSQL with a real second thread and connection: each page locks the user it changes,
then records the change in the History, a row naming its own staff member, whose foreign
key reads that staff member's user row FOR KEY SHARE."""

import threading

import pytest
from django.db import connections, transaction
from django.urls import reverse

from accounts import services
from accounts.tests.factories import UserFactory
from common.audit import staff_action_record
from common.tests.helpers import admin_form_as_sent
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_superusers_changing_each_other_at_once_is_no_deadlock(client):
    """The change page locked its user FOR UPDATE, which the other page's History row
    naming that user waits for: PostgreSQL found a deadlock, and one page answered 503
    busy, its change not saved."""
    mine, theirs = UserFactory.create_batch(2, is_staff=True, is_superuser=True)
    client.force_login(mine)
    url = reverse("admin:accounts_user_change", args=[theirs.pk])
    form = admin_form_as_sent(client.get(url))
    locked = threading.Event()
    answers: dict = {}

    def their_change_of_me() -> None:
        """Their page on me, between its lock and its record."""
        try:
            with transaction.atomic():
                services.user_lock_for_change(user_id=mine.pk, actor_id=theirs.pk)
                locked.set()
                wait_until(lambda: "mine" in answers or sessions_waiting_on_a_lock() > 0)
                staff_action_record(actor_id=theirs.pk, instances=[mine], message="Changed.")
            answers["theirs"] = "recorded"
        except Exception as error:  # the test reports what it raised
            answers["theirs"] = error
        finally:
            locked.set()
            connections.close_all()

    thread = threading.Thread(target=their_change_of_me)
    thread.start()
    locked.wait(10)
    try:
        answers["mine"] = client.post(url, form)
    except Exception as error:  # the test reports what it raised
        answers["mine"] = error
    thread.join()

    assert answers["theirs"] == "recorded"
    assert not isinstance(answers["mine"], Exception), answers["mine"]
    assert answers["mine"].status_code == 302
