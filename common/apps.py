from django.apps import AppConfig


class CommonConfig(AppConfig):
    """API infrastructure shared by every app: errors, paging, idempotency, health."""

    name = "common"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Before any URLconf is read: every app's paths name ids with it.
        from django.urls import register_converter

        from common.converters import AnyCaseUuidConverter

        register_converter(AnyCaseUuidConverter, "anyuuid")
