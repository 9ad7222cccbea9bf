"""The catalog's admin, registered on import as Django's autodiscovery expects."""

from catalog.admin import currencies, items

__all__ = ["currencies", "items"]
