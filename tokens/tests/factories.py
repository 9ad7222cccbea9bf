from tokens.models import TokenTransaction
from tokens.services import tokens_credit


def fund(user, amount: int) -> TokenTransaction:
    """Gives `user` tokens the way staff would, so the ledger explains the balance."""
    return tokens_credit(
        user_id=user.pk,
        amount=amount,
        transaction_type=TokenTransaction.Type.ADJUSTMENT,
        description="test funds",
    )
