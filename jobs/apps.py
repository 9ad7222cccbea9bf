from django.apps import AppConfig


class JobsConfig(AppConfig):
    """The worker's jobs: it sits above the money apps and calls their services."""

    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common.metrics import collector_register
        from jobs.metrics import SweepsCollector

        collector_register("worker_sweeps", SweepsCollector())
