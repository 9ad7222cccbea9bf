"""Records of POST requests made with an Idempotency-Key, so a retry gets the first answer."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The first answer to a key, written in the same transaction as the work it answers."""

    # No database constraint: checking it would lock the user's row on every idempotent
    # request. Django still deletes a user's records with the user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,  # the unique (user, key) index leads with it
    )
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and body of the first request."
    )
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="common_idempotency_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"


class Lease(models.Model):
    """Who may run a job that must not run twice at once, until when (common.locks).

    A row, not a session's advisory lock, so it works behind PgBouncer in transaction
    pooling; its holder renews it while it runs, and it lapses when the holder dies.
    """

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} (held by {self.holder} until {self.expires_at:%Y-%m-%d %H:%M:%S})"
