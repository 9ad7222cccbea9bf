"""Sending signed Stripe webhooks and reading what they left (test_stripe_webhook_*)."""

from tokens.models import TokenAccount

STRIPE = "/api/v1/webhooks/stripe"


def send(client, fake_stripe, event, *, secret=None, header=None):
    body, signature = fake_stripe.signed(event, secret=secret)
    headers = {"HTTP_STRIPE_SIGNATURE": header if header is not None else signature}
    return client.post(STRIPE, data=body, content_type="application/json", **headers)


def balance(user) -> int:
    account = TokenAccount.objects.filter(user=user).first()
    return account.balance if account else 0


def without_events(state: dict) -> dict:
    return {model: rows for model, rows in state.items() if model != "billing.PaymentEvent"}
