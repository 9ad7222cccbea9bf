from datetime import datetime

from tokens.models import TokenLot, TokenTransaction
from tokens.services import lot_grant, tokens_credit


def fund(user, amount: int) -> TokenTransaction:
    """Gives `user` tokens the way staff would, so the ledger explains the balance."""
    return tokens_credit(
        user_id=user.pk,
        amount=amount,
        transaction_type=TokenTransaction.Type.ADJUSTMENT,
        description="test funds",
    )


def grant(
    user,
    amount: int,
    *,
    category: str = "promotional",
    expires_at: datetime | None = None,
    priority: int = 50,
) -> TokenLot:
    """A lot of `amount` free tokens, as staff grant it."""
    return lot_grant(
        user_id=user.pk,
        amount=amount,
        category=category,
        expires_at=expires_at,
        priority=priority,
        reason="test grant",
        actor_id=None,
    )
