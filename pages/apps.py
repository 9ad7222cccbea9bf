from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Server-rendered pages for people: sign in, buy tokens, see the ledger."""

    name = "pages"
    default_auto_field = "django.db.models.BigAutoField"
