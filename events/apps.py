from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common.metrics import collector_register
        from events.metrics import WebhookDeliveriesCollector

        collector_register("webhook_deliveries", WebhookDeliveriesCollector())
