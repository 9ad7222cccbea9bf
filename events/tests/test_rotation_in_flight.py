"""A secret rotated while an attempt is on its way (claimed and signed with the old one): the
receiver gets the old secret's signature only, which it can verify for 24 h (docs/api.md:
"the old secret keeps signing too for 24 h"); a receiver that moved to the new secret at once
refuses that one attempt, and the retry carries both. The rotation is never lost to the
worker's record. The rotation runs on a thread of its own, with its own connection."""

import threading

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from events import services
from events.dispatch import Dispatcher
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.tests.concurrency_helpers import _in_thread
from events.tests.delivery_helpers import dispatch_until, emit
from events.tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rotation_while_an_attempt_is_on_its_way_loses_neither_event_nor_secret(loopback):
    receiver = Receiver(fail_first=1, fail_status=401, hold=threading.Event()).start()
    endpoint = services.endpoint_create(url=receiver.url, event_types=["ping"])
    old = endpoint.secret
    receiver.secrets.append(old)
    emit()
    dispatcher = Dispatcher(threads=2)
    try:
        dispatch_until(lambda: receiver.received, dispatcher=dispatcher)
        rotating: dict = {}
        _in_thread(
            rotating,
            "rotated",
            lambda: services.endpoint_rotate_secret(endpoint_id=endpoint.pk),
        ).join()
        new = rotating["rotated"].secret
        # The receiver moves to the new secret at once, and refuses the attempt on its way:
        # staged (fail_first answers it 401); that the new secret cannot verify it is asserted
        # below, and the retry is verified with the new secret alone.
        receiver.secrets[:] = [new]
        receiver.hold.set()
        dispatch_until(DeliveryAttempt.objects.exists, dispatcher=dispatcher)
        Delivery.objects.update(next_attempt_at=timezone.now())
        dispatch_until(lambda: len(receiver.received) == 2, dispatcher=dispatcher)
        dispatcher.run_for(0)
    finally:
        dispatcher.close()
        receiver.stop()

    on_its_way, retry = receiver.received
    assert on_its_way.verified
    Webhook(old).verify(on_its_way.body, on_its_way.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(on_its_way.body, on_its_way.headers)
    assert retry.verified
    Webhook(old).verify(retry.body, retry.headers)
    assert Delivery.objects.get().status == "succeeded"
    assert list(DeliveryAttempt.objects.order_by("attempt").values_list("status_code")) == [
        (401,),
        (204,),
    ]
    endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert endpoint.secret == new
    assert [previous["secret"] for previous in endpoint.previous_secrets] == [old]
