"""What the test_timeouts_* modules share."""

from __future__ import annotations

LOCK_TIMEOUT_SECONDS = 3


BUSY = {
    "error": "The database is busy; nothing was changed. Retry in 3 seconds.",
    "code": "busy",
}


ACCOUNT_LOCK = "SELECT 1 FROM tokens_tokenaccount WHERE user_id = %s FOR UPDATE"


SEQUENCE_LOCK = "SELECT 1 FROM billing_invoicesequence WHERE year = %s FOR UPDATE"
