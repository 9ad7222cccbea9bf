"""Two staff members deactivating users at once, on PostgreSQL with a real second
connection: one deactivates a customer, and records it in the History (a row naming that
staff member, whose foreign key reads their user row FOR KEY SHARE), while the other
deactivates both that staff member and the customer."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connections

from accounts import services
from accounts.models import User
from accounts.tests.factories import UserFactory
from common.tests.servers import the_test_database
from common.tests.waits import sessions_waiting_on_a_lock, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

LOCK_USER = "SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE"
# What PostgreSQL's foreign key check takes on the user a new History row names.
NAME_USER = "SELECT 1 FROM accounts_user WHERE id = %s FOR KEY SHARE"


def test_deactivating_a_staff_member_as_they_deactivate_a_customer_is_no_deadlock():
    """The bulk deactivation locked its users FOR UPDATE, which a History row naming one of
    them waits for: PostgreSQL found a deadlock and rolled one of the two back."""
    first, second = sorted(UserFactory.create_batch(2), key=lambda user: user.pk)
    # Locked first by the deactivation of both, as it locks in id order.
    colleague, customer = first, second
    User.objects.filter(pk=colleague.pk).update(is_staff=True)
    deactivating = UserFactory(is_staff=True, is_superuser=True)
    answers: dict = {}

    def deactivate_both() -> None:
        try:
            answers["both"] = services.users_deactivate(
                queryset=User.objects.filter(pk__in=[colleague.pk, customer.pk]),
                actor_id=deactivating.pk,
            )
        except Exception as error:  # the test reports what it raised
            answers["both"] = error
        finally:
            connections.close_all()

    with psycopg.connect(**the_test_database()) as theirs:
        # The colleague's deactivation of the customer, between its lock and its record.
        theirs.execute(LOCK_USER, [customer.pk])
        both = threading.Thread(target=deactivate_both)
        both.start()
        wait_until(lambda: "both" in answers or sessions_waiting_on_a_lock() > 0)
        try:
            theirs.execute(NAME_USER, [colleague.pk])
            recorded = "recorded"
        except psycopg.Error as error:
            recorded = error
        theirs.rollback()
        both.join()

    assert recorded == "recorded"
    assert answers["both"] == 2
    assert not User.objects.filter(pk__in=[colleague.pk, customer.pk], is_active=True).exists()
