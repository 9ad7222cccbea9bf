"""What this package's payment webhook test modules share."""

from tokens.models import TokenAccount


def balance(user) -> int:
    account = TokenAccount.objects.filter(user=user).first()
    return account.balance if account else 0


def without_events(state: dict) -> dict:
    return {model: rows for model, rows in state.items() if model != "billing.PaymentEvent"}
