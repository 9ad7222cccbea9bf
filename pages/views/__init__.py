"""Pages for people, on the same services and selectors as the API. Session auth, CSRF."""

from pages.views.accounts import (
    SignInView,
    SignOutView,
    account,
    account_alerts,
    account_password,
    sign_up,
)
from pages.views.history import transactions, usage
from pages.views.home import home
from pages.views.invoices import (
    invoice_cancel_page,
    invoice_detail,
    invoice_pay_page,
    invoice_receipt_pdf,
    invoices,
)
from pages.views.purchase import (
    balance,
    purchase,
    purchase_cancel,
    purchase_status,
    purchase_success,
)

__all__ = [
    "SignInView",
    "SignOutView",
    "account",
    "account_alerts",
    "account_password",
    "balance",
    "home",
    "invoice_cancel_page",
    "invoice_detail",
    "invoice_pay_page",
    "invoice_receipt_pdf",
    "invoices",
    "purchase",
    "purchase_cancel",
    "purchase_status",
    "purchase_success",
    "sign_up",
    "transactions",
    "usage",
]
