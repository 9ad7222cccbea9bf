"""What came of attempts, written in batches: for each delivery (done, retried later, given
up) and for its endpoint (failing since when, how many attempts in a row; disabled after 5
days and 20 attempts of failures)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db import transaction
from django.db.models import Case, DateTimeField, F, PositiveIntegerField, Value, When
from django.db.models.functions import Coalesce

from events.dispatch.health import endpoints_succeeded, heard_elsewhere, newest_delivered
from events.dispatch.pausing import deliveries_wait, endpoints_pause
from events.dispatch.sending import Outcome
from events.dispatch.turning_off import (
    DISABLE_AFTER,
    DISABLE_AFTER_FAILURES,
    GONE,
    endpoint_turn_off_gone,
    endpoint_turn_off_if_failing_too_long,
)
from events.models import BACKOFF, Delivery, DeliveryAttempt, WebhookEndpoint


def delivery_record(delivery_id: int, outcome: Outcome, *, now: datetime) -> None:
    """One attempt's outcome (see deliveries_record)."""
    deliveries_record([(delivery_id, outcome)], now=now)


def deliveries_record(outcomes: list[tuple], *, now: datetime) -> None:
    """The attempts, each `(delivery id, outcome)` or `(delivery id, outcome, leased_until of
    the lease it was sent under)`, and what each means for its delivery (done, retried later,
    given up) and its endpoint (failing since when, attempts failed in a row; disabled after
    DISABLE_AFTER and DISABLE_AFTER_FAILURES of them). An attempt whose lease another worker
    has taken since is logged but leaves that worker's lease (even once the delivery is done
    or given up) and schedule alone (its 410 still turns the endpoint off, its `Retry-After`
    still pauses it, unless the delivery was given up meanwhile, as by staff turning the
    endpoint off, or delivered by the other worker). An attempt heard at a URL the endpoint
    no longer has is logged, and its delivery goes to the new URL now, as the change brought
    the others forward: it counts no failure of the endpoint, and its 410 or `Retry-After`
    says nothing of the new URL, nor its 2xx (which delivers its delivery) of its health;
    one answered with `Retry-After` but sent before staff lifted
    the endpoint's pause (endpoint_pause_lift) pauses nothing, and its delivery goes now as
    the lift's others did. A failure of one sent before another attempt of its endpoint was
    answered 2xx (`delivered_sent_at`, or in the batch) is logged and retried on its
    delivery's schedule but counts no failure in a row, and its 410 or `Retry-After` neither
    turns the endpoint off nor pauses it: the receiver's newer word is that it takes events.
    One sent before staff resent its event (`resent_at`) says nothing of the endpoint: the
    resend may have made pending again a delivery another worker delivered meanwhile (or one
    given up, its endpoint turned on since); its 410 or `Retry-After` is a failure on the
    resend's schedule. A 429 or 503 with `Retry-After` holds the endpoint's pending
    deliveries until then. One transaction and a fixed number of statements for the whole
    batch. Locks the batch's endpoints before their deliveries, in the order turning an
    endpoint off takes them (endpoint_update), so the two never deadlock."""
    delivery_ids = [delivery_id for delivery_id, *_ in outcomes]
    with transaction.atomic():
        of_the_batch = Delivery.objects.filter(pk__in=delivery_ids).values("endpoint_id")
        # What decides turning one off, read under the lock: no statement per endpoint later.
        endpoint_rows = (
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .filter(pk__in=of_the_batch)
            .order_by("pk")
            .values_list(
                "pk",
                "is_active",
                "failing_since",
                "failed_attempts",
                "url",
                "pause_lifted_at",
                "delivered_sent_at",
            )
        )
        before = {pk: rest for pk, *rest in endpoint_rows}
        locked = Delivery.objects.select_for_update().filter(pk__in=delivery_ids)
        deliveries = {delivery.pk: delivery for delivery in locked}
        attempts, delivered, retried, late, moved, gone = [], [], [], [], [], set()
        away: set = set()  # Deliveries whose attempt went to a URL no longer their endpoint's.
        # Deliveries whose lease another worker holds now: whatever is recorded keeps it.
        others_leases: set = set()
        # Until when each endpoint asked, by a 429 or 503 with `Retry-After`, to be sent nothing.
        paused: dict = {}
        # Failures of attempts sent before one of their endpoint answered 2xx, recorded
        # earlier or anywhere in the batch (recorded late): no failures in a row, and their
        # 410 or `Retry-After` says nothing of the endpoint.
        newest, last_2xx = newest_delivered(
            outcomes,
            deliveries,
            {pk: row[5] for pk, row in before.items()},
            {pk: row[3] for pk, row in before.items()},
        )
        stale = set()
        for delivery_id, outcome, *held in outcomes:
            delivery = deliveries.get(delivery_id)
            if delivery is None:
                continue
            delivery.attempts += 1
            attempts.append(
                DeliveryAttempt(
                    delivery=delivery,
                    attempt=delivery.attempts,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    error=outcome.error[:1000],
                    created_at=now,
                )
            )
            sent, last = outcome.sent_at, last_2xx.get(delivery.endpoint_id)
            if not outcome.delivered and sent is not None and last is not None and sent < last:
                stale.add(delivery.pk)
            # Heard at a URL the endpoint no longer has (staff gave it a new one while the
            # attempt was on its way): it says nothing of the endpoint as it is now.
            elsewhere = heard_elsewhere(outcome, before[delivery.endpoint_id][3])
            if elsewhere:
                away.add(delivery.pk)
            # Nor does one whose delivery was given up while it was on its way (its endpoint
            # turned off, perhaps on again since by staff, who lifted any pause): its answer
            # may predate the turning on, which it would otherwise undo. Nor one whose
            # delivery another worker delivered meanwhile: that attempt was sent after this
            # one's lease lapsed, so its 2xx is the receiver's newer word.
            # Nor one sent before staff resent its event: the resend makes a delivered or
            # given-up delivery pending again, and the answer may predate another worker's
            # 2xx or staff turning the endpoint on, as above.
            before_resend = outcome.url is not None and outcome.resent_at != delivery.resent_at
            # Nor one sent before another attempt of its endpoint answered 2xx: the receiver's
            # newer word is that it takes events.
            speaks = (
                not elsewhere
                and not before_resend
                and delivery.pk not in stale
                and delivery.status == Delivery.Status.PENDING
            )
            # A `Retry-After` to an attempt sent before staff lifted the endpoint's pause
            # predates the lift, which it would otherwise undo.
            before_lift = (
                outcome.retry_after is not None
                and outcome.url is not None
                and outcome.pause_lifted_at != before[delivery.endpoint_id][4]
            )
            if outcome.retry_after is not None and speaks and not before_lift:
                until = now + outcome.retry_after
                paused[delivery.endpoint_id] = max(paused.get(delivery.endpoint_id, until), until)
            if outcome.status_code == GONE and speaks:
                # The receiver's word about the endpoint, heard on whatever lease.
                gone.add(delivery.endpoint_id)
            if delivery.status != Delivery.Status.PENDING:
                # Given up (its endpoint turned off) or done by another worker while this
                # attempt was on its way: the attempt is logged as it went; one that arrived
                # makes a given-up delivery delivered.
                # Nothing of this attempt is on its way now: its lease no longer holds back a
                # resend. Another worker's, taken since this one's lapsed, is on its way still:
                # cleared, a resend was taken at once and sent beside it.
                given_up = delivery.status == Delivery.Status.FAILED
                if held and held[0] != delivery.leased_until:
                    others_leases.add(delivery.pk)
                else:
                    delivery.leased_until = None
                (delivered if outcome.delivered and given_up else late).append(delivery)
                continue
            if held and held[0] != delivery.leased_until:
                # Sent under a lease that lapsed, and taken since by another worker (a
                # lease's end is its own: a later one ends later): its lease, and the schedule
                # its outcome will set, are left alone. One that arrived is delivered.
                others_leases.add(delivery.pk)
                (delivered if outcome.delivered else late).append(delivery)
                continue
            if outcome.delivered:
                delivered.append(delivery)
                continue
            delivery.leased_until, delivery.last_error = None, outcome.error[:1000]
            if elsewhere:
                # As the fix brought the endpoint's other deliveries forward
                # (endpoint_deliveries_due_now): to the new URL now, one attempt short of its
                # last at most, counting no failure of the endpoint.
                delivery.next_attempt_at = now
                delivery.attempts = min(delivery.attempts, len(BACKOFF) - 1)
                moved.append(delivery)
                continue
            if before_lift:
                # As the lift brought the endpoint's other deliveries forward: now, one
                # attempt short of its last at most; a failure of the endpoint all the same
                # (the lift keeps them).
                delivery.next_attempt_at = now
                delivery.attempts = min(delivery.attempts, len(BACKOFF) - 1)
                retried.append(delivery)
                continue
            # A last attempt the receiver asked to repeat later (429 or 503 with
            # `Retry-After`) gets one more then: it is up and said when it can take the event.
            # An answer from before a resend is a failure on the resend's schedule only.
            asked = outcome.retry_after if speaks else None
            last = len(BACKOFF) + (asked is not None)
            if delivery.attempts > last or (outcome.status_code == GONE and speaks):
                delivery.status, delivery.completed_at = Delivery.Status.FAILED, now
            else:
                beyond = delivery.attempts > len(BACKOFF)
                wait = asked if beyond else BACKOFF[delivery.attempts - 1]
                delivery.next_attempt_at = now + max(wait, asked or wait)
            retried.append(delivery)
        DeliveryAttempt.objects.bulk_create(attempts)
        # Most attempts succeed and change their delivery alike: one plain UPDATE for them.
        Delivery.objects.filter(pk__in=[delivery.pk for delivery in delivered]).update(
            status=Delivery.Status.SUCCEEDED,
            completed_at=now,
            leased_until=Case(
                When(pk__in=others_leases, then=F("leased_until")),
                default=Value(None),
                output_field=DateTimeField(),
            ),
            last_error="",
            attempts=F("attempts") + 1,
        )
        Delivery.objects.bulk_update(
            retried,
            ["attempts", "leased_until", "status", "completed_at", "last_error", "next_attempt_at"],
        )
        Delivery.objects.bulk_update(late, ["attempts", "leased_until"])
        Delivery.objects.bulk_update(
            moved, ["attempts", "leased_until", "last_error", "next_attempt_at"]
        )
        if paused:
            endpoints_pause(paused)
            deliveries_wait(paused)
        succeeded = {delivery.endpoint_id for delivery in delivered if delivery.pk not in away}
        failures = Counter(d.endpoint_id for d in retried if d.pk not in stale)
        failing = set(failures) - succeeded
        endpoints = WebhookEndpoint.objects.all()
        endpoints_succeeded(succeeded, newest)
        if failing:
            endpoints.filter(pk__in=failing).update(
                failing_since=Coalesce("failing_since", Value(now)),
                failed_attempts=F("failed_attempts")
                + Case(
                    *(When(pk=pk, then=Value(failures[pk])) for pk in failing),
                    output_field=PositiveIntegerField(),
                ),
            )
        for endpoint_id in failing - gone:
            is_active, failing_since, failed_attempts, *_ = before[endpoint_id]
            if (
                is_active
                and (failing_since or now) <= now - DISABLE_AFTER
                and failed_attempts + failures[endpoint_id] >= DISABLE_AFTER_FAILURES
            ):
                endpoint_turn_off_if_failing_too_long(endpoint_id, now)
        for endpoint_id in gone:
            endpoint_turn_off_gone(endpoint_id, now)
