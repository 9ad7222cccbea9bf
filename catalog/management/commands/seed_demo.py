"""Demo data for `make run`: one coherent catalog, a staff user and a demo user. The demo
user's history (invoices, usage, a refund) is `seed_demo_history`, in pages: catalog may not
import the apps that make it."""

from __future__ import annotations

import os
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.models import AddOn, BillingPeriod, CatalogItem, Plan, TokenBundle
from catalog.services import catalog_item_create, catalog_items_set_active

# One price list: a token costs $1.00 alone and less in larger bundles; Pro is the best value.
BUNDLES = [
    ("Taster", 10, "10.00", "Try it out: enough for a few jobs."),
    ("Starter", 50, "45.00", "For occasional use."),
    ("Standard", 100, "90.00", "For a small team's week."),
    ("Pro", 500, "400.00", "For steady, heavy use."),
]
# Bundles of earlier demo seeds that broke the price list (1000 tokens for $5): off sale.
RETIRED_BUNDLES = ["Team", "Enterprise"]
PLANS = [
    ("Monthly", BillingPeriod.MONTHLY, "29.00", 40, "40 tokens every month, renewed monthly."),
    ("Yearly", BillingPeriod.YEARLY, "290.00", 480, "480 tokens a year: two months free."),
]
ADD_ONS = [
    ("Priority support", BillingPeriod.MONTHLY, "9.00", "Answers within four working hours."),
    ("Onboarding session", BillingPeriod.ONE_TIME, "49.00", "An hour with an engineer, once."),
]
STAFF_EMAIL = "staff@example.com"
DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Load demo data; running it again changes nothing."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        created = 0
        for order, (name, tokens, price, text) in enumerate(BUNDLES):
            created += self._ensure(
                TokenBundle, name, price, text, sort_order=order, token_amount=tokens
            )
        for order, (name, period, price, included, text) in enumerate(PLANS):
            created += self._ensure(
                Plan,
                name,
                price,
                text,
                sort_order=order,
                billing_period=period,
                included_tokens=included,
            )
        for order, (name, period, price, text) in enumerate(ADD_ONS):
            created += self._ensure(
                AddOn, name, price, text, sort_order=order, billing_period=period
            )
        catalog_items_set_active(
            queryset=TokenBundle.objects.filter(name__in=RETIRED_BUNDLES), active=False
        )

        password = os.environ.get("DEMO_PASSWORD", "tokens-demo-2026")
        staff_created = self._ensure_user(STAFF_EMAIL, password, is_staff=True)
        demo_created = self._ensure_user(DEMO_EMAIL, password, is_staff=False)
        created += staff_created + demo_created

        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} rows created)."))
        self.stdout.write(f"  staff (admin at /admin/): {STAFF_EMAIL} / {password}")
        self.stdout.write(f"  demo user:                {DEMO_EMAIL} / {password}")
        if not (staff_created and demo_created):
            self.stdout.write("  (existing users keep the password they had)")

    def _ensure(
        self, model: type[CatalogItem], name: str, price: str, description: str, **fields
    ) -> int:
        if model.objects.filter(name=name).exists():
            return 0
        data = {"name": name, "price": Decimal(price), "description": description, **fields}
        catalog_item_create(model=model, data=data)
        return 1

    def _ensure_user(self, email: str, password: str, *, is_staff: bool) -> int:
        users = get_user_model().objects
        if users.filter(email=email).exists():
            return 0
        if is_staff:
            users.create_superuser(email=email, password=password)
        else:
            users.create_user(email=email, password=password)
        return 1
