"""Demo data for `make run`: the catalog of the seeds, a staff user and a demo user."""

from __future__ import annotations

import os
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.models import AddOn, BillingPeriod, CatalogItem, Plan, TokenBundle
from catalog.services import catalog_item_create

BUNDLES = [
    ("Taster", 10, "10.00"),
    ("Starter", 50, "45.00"),
    ("Standard", 100, "90.00"),
    ("Pro", 500, "400.00"),
    ("Team", 1000, "5.00"),
    ("Enterprise", 10000, "50.00"),
]
PLANS = [
    ("Monthly", BillingPeriod.MONTHLY, "29.00"),
    ("Yearly", BillingPeriod.YEARLY, "290.00"),
]
ADD_ONS = [
    ("Priority support", BillingPeriod.MONTHLY, "9.00"),
    ("Onboarding session", BillingPeriod.ONE_TIME, "49.00"),
]
STAFF_EMAIL = "staff@example.com"
DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Load demo data; running it again changes nothing."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        created = 0
        for order, (name, tokens, price) in enumerate(BUNDLES):
            created += self._ensure(TokenBundle, name, price, sort_order=order, token_amount=tokens)
        for order, (name, period, price) in enumerate(PLANS):
            created += self._ensure(Plan, name, price, sort_order=order, billing_period=period)
        for order, (name, period, price) in enumerate(ADD_ONS):
            created += self._ensure(AddOn, name, price, sort_order=order, billing_period=period)

        password = os.environ.get("DEMO_PASSWORD", "tokens-demo-2026")
        staff_created = self._ensure_user(STAFF_EMAIL, password, is_staff=True)
        demo_created = self._ensure_user(DEMO_EMAIL, password, is_staff=False)
        created += staff_created + demo_created

        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created} rows created)."))
        self.stdout.write(f"  staff (admin at /admin/): {STAFF_EMAIL} / {password}")
        self.stdout.write(f"  demo user:                {DEMO_EMAIL} / {password}")
        if not (staff_created and demo_created):
            self.stdout.write("  (existing users keep the password they had)")

    def _ensure(self, model: type[CatalogItem], name: str, price: str, **fields) -> int:
        if model.objects.filter(name=name).exists():
            return 0
        catalog_item_create(model=model, data={"name": name, "price": Decimal(price), **fields})
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
