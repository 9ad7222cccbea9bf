"""The demo user's history for `make run`, after `seed_demo`: a paid invoice, usage (one use
given back), a refunded invoice and one still waiting for payment, so that every page has
something to show. Here, not in catalog: it uses billing and tokens."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from billing import services as billing
from billing.models import Invoice
from catalog.management.commands.seed_demo import DEMO_EMAIL
from catalog.models import TokenBundle
from tokens.ledger import Work
from tokens.services import usage_record, usage_record_refund

USES = [
    ("summarize", 4, "Quarterly report summary"),
    ("translate", 7, "Product page in three languages"),
    ("summarize", 3, "Meeting notes"),
    ("image", 12, "Banner variations"),
]
GIVEN_BACK = 3  # the image job failed; its tokens were given back


class Command(BaseCommand):
    help = "Give the demo user a history of invoices and usage; running it again changes nothing."

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            raise CommandError(f"No {DEMO_EMAIL}: run `manage.py seed_demo` first.")
        bundles = {bundle.name: bundle.pk for bundle in TokenBundle.objects.filter(is_active=True)}
        try:
            paid = self._invoice(user.pk, bundles["Standard"], "paid")
            uses = [
                usage_record(
                    user_id=user.pk,
                    work=Work(
                        amount=amount,
                        feature=feature,
                        description=description,
                        usage_key=f"demo:usage:{number}",
                    ),
                ).usage
                for number, (feature, amount, description) in enumerate(USES)
            ]
            refunded = self._invoice(user.pk, bundles["Taster"], "refunded")
            pending = self._invoice(user.pk, bundles["Starter"], "pending")
        except KeyError as missing:
            raise CommandError(f"No active bundle {missing}: run `manage.py seed_demo`.") from None
        if uses[GIVEN_BACK].refunded_at is None:
            usage_record_refund(user_id=user.pk, usage_id=uses[GIVEN_BACK].pk, actor_id=None)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo history ready: {paid.number} paid, {refunded.number} refunded, "
                f"{pending.number} waiting for payment, {len(uses)} uses."
            )
        )

    def _invoice(self, user_id: UUID, bundle_id: UUID, outcome: str) -> Invoice:
        """A checkout of one bundle taken to `outcome` (paid, refunded or pending) with a test
        payment; its key finds the same invoice on every run."""
        invoice = billing.checkout_create(
            user_id=user_id,
            plan_id=None,
            token_bundle_ids=[bundle_id],
            add_on_ids=[],
            idempotency_key=f"demo:{outcome}",
        ).invoice
        if outcome != "pending" and invoice.status == Invoice.Status.PENDING:
            invoice = billing.invoice_capture(
                invoice_id=invoice.pk,
                provider=Invoice.Provider.TEST,
                payment_reference=f"test_demo_{outcome}",
            ).invoice
        if outcome == "refunded" and invoice.status == Invoice.Status.PAID:
            invoice = billing.invoice_refund(invoice_id=invoice.pk).invoice
        return invoice
