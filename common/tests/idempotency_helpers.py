"""What the test_idempotency_* modules share."""

from common import services


def record(user, key="k", fingerprint="f1", status=201, body=None):
    return services.idempotency_record(
        user_id=user.pk, key=key, fingerprint=fingerprint, status=status, body=body or {"ok": 1}
    )
