"""What the pages show, read through the apps' own selectors."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Sum

from billing.models import Invoice, TokenBundlePurchase
from billing.selectors import invoice_with_items
from tokens.selectors import token_balance


@dataclass(frozen=True)
class Receipt:
    invoice: Invoice
    tokens_credited: int
    balance: int

    @property
    def settled(self) -> bool:
        return self.invoice.status != Invoice.Status.PENDING


def purchase_receipt(*, invoice_id: UUID, user_id: UUID) -> Receipt:
    """The user's invoice with the tokens its capture credited (0 until it is paid).

    Raises NotFound for another user's invoice.
    """
    invoice = invoice_with_items(invoice_id=invoice_id, user_id=user_id)
    credited = TokenBundlePurchase.objects.filter(
        invoice=invoice,
        status__in=[TokenBundlePurchase.Status.COMPLETED, TokenBundlePurchase.Status.REFUNDED],
    ).aggregate(tokens=Sum("tokens"))["tokens"]
    return Receipt(
        invoice=invoice,
        tokens_credited=credited or 0,
        balance=token_balance(user_id=user_id).balance,
    )
