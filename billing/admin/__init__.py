"""Staff screens of billing: invoices with their operations, and the records services
write (subscriptions, purchases, payment events), which staff may read but not edit."""

from billing.admin import invoices, records

__all__ = ["invoices", "records"]
