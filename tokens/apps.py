from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import user_registered
        from billing.signals import invoice_paid, invoice_refunded
        from common.metrics import collector_register
        from tokens import signals
        from tokens.metrics import ExpiryOverdueCollector, LedgerCheckCollector

        user_registered.connect(signals.grant_trial, dispatch_uid="tokens.grant_trial")
        invoice_paid.connect(
            signals.credit_purchased_tokens, dispatch_uid="tokens.credit_purchased_tokens"
        )
        invoice_refunded.connect(
            signals.reverse_refunded_tokens, dispatch_uid="tokens.reverse_refunded_tokens"
        )
        collector_register("ledger_check", LedgerCheckCollector())
        collector_register("expiry_overdue", ExpiryOverdueCollector())
