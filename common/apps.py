from django.apps import AppConfig


class CommonConfig(AppConfig):
    """API infrastructure shared by every app: errors, paging, idempotency, health."""

    name = "common"
    default_auto_field = "django.db.models.BigAutoField"
