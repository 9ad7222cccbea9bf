from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import checks, signals

        checks.register_checks()

        signals.invoice_paid.connect(
            signals.activate_paid_items, dispatch_uid="billing.activate_paid_items"
        )
        signals.invoice_refunded.connect(
            signals.cancel_refunded_items, dispatch_uid="billing.cancel_refunded_items"
        )
