"""The capture webhook's signature scheme, at its edges (time injected, not waited for)."""

import hashlib
import hmac

import pytest

from billing.services.payment_webhook import InvalidSignature, signature_verify

BODY = b'{"invoice_id": "x"}'
NOW = 1_800_000_000
SECRETS = ["current", "previous"]


def header(timestamp: int, *secrets: str, body: bytes = BODY) -> str:
    digests = [
        hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        for secret in secrets
    ]
    return ",".join([f"t={timestamp}", *(f"v1={digest}" for digest in digests)])


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_300_seconds_either_way_are_accepted(offset):
    signature_verify(
        header=header(NOW + offset, "current"), raw_body=BODY, secrets=SECRETS, now=NOW
    )


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamps_further_away_are_refused(offset):
    with pytest.raises(InvalidSignature, match="300 seconds"):
        signature_verify(
            header=header(NOW + offset, "current"), raw_body=BODY, secrets=SECRETS, now=NOW
        )


@pytest.mark.parametrize("signers", [("previous",), ("stranger", "current"), ("current", "x")])
def test_any_v1_may_match_any_configured_secret(signers):
    signature_verify(header=header(NOW, *signers), raw_body=BODY, secrets=SECRETS, now=NOW)


def test_the_signature_covers_the_timestamp():
    replayed = header(NOW - 1000, "current").replace(f"t={NOW - 1000}", f"t={NOW}")

    with pytest.raises(InvalidSignature, match="does not match"):
        signature_verify(header=replayed, raw_body=BODY, secrets=SECRETS, now=NOW)


def test_a_changed_body_is_refused():
    with pytest.raises(InvalidSignature, match="does not match"):
        signature_verify(
            header=header(NOW, "current"), raw_body=BODY + b" ", secrets=SECRETS, now=NOW
        )
