"""What the service does beyond Django: the worker, outgoing webhooks, tokens, the seller on
receipts, money and payments, and who may read /metrics."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from catalog.currencies import currency_refusal
from config.env import env_address, env_bool, env_int, env_list

# The worker (`manage.py worker`): deliveries and scheduled sweeps, queued in the database.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "deliveries"],
    }
}

# Outgoing webhooks. Private, loopback and link-local addresses (and plain http) only when
# WEBHOOK_ALLOW_PRIVATE_URLS=1: tests and local setups.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
# A delivery taken by a worker that dies is taken again after this (at least once).
# Keep it longer than an attempt may last (10 s, events.dispatch.sending.TIMEOUT_SECONDS): another
# worker takes a delivery whose lease lapsed (its own dispatcher never sends one twice).
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60, minimum=1, maximum=3600)
# Events, their deliveries and attempts are deleted this many days after the event, once
# every delivery has finished (the worker's daily purge).
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30, minimum=1, maximum=3650)
# A user's balance falling below this sends `tokens.low_balance` (their own setting wins;
# 0 turns it off).
LOW_BALANCE_THRESHOLD = env_int("LOW_BALANCE_THRESHOLD", 100)

# Tokens: the trial every sign-up gets (TRIAL_TOKENS=0 disables it).
TRIAL_TOKENS = env_int("TRIAL_TOKENS", 3)
TRIAL_DAYS = env_int("TRIAL_DAYS", 30, minimum=1, maximum=3650)


# Who sells: printed on PDF receipts.
SELLER_NAME = os.environ.get("SELLER_NAME", "Token billing")
SELLER_ADDRESS = os.environ.get("SELLER_ADDRESS", "")
SELLER_EMAIL = os.environ.get("SELLER_EMAIL", "")
SELLER_TAX_ID = os.environ.get("SELLER_TAX_ID", "")

# Money and payments.
# The first migration creates it (catalog 0002); refused here rather than by that migration's
# CHECK error (EURO) or, for a currency of 3 places (KWD), by prices rounded to 2.
DEFAULT_CURRENCY = os.environ.get("DEFAULT_CURRENCY", "").strip().upper() or "USD"
if (_currency_refused := currency_refusal(DEFAULT_CURRENCY)) is not None:
    raise ImproperlyConfigured(f"DEFAULT_CURRENCY {_currency_refused}.")
PAYMENT_WEBHOOK_SECRETS = env_list("PAYMENT_WEBHOOK_SECRET", [])
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_address("STRIPE_API_BASE", "https://api.stripe.com")
# Where Stripe's Checkout Sessions send the customer (their `url`): the pages' form-action
# allows it, for Buy redirects there after its POST (ContentSecurityPolicyMiddleware).
STRIPE_CHECKOUT_ORIGIN = env_address("STRIPE_CHECKOUT_ORIGIN", "https://checkout.stripe.com")
# The `test` payment provider: a checkout page of this server that pays without money.
# For `make run` and demos only; `check --deploy` warns while it is on.
PAYMENTS_TEST_MODE = env_bool("PAYMENTS_TEST_MODE", False)

# /metrics answers loopback clients, and others that send `Authorization: Bearer <this>`.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
