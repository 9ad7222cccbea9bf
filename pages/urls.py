from django.urls import path

from pages import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.SignInView.as_view(), name="sign-in"),
    path("sign-up", views.sign_up, name="sign-up"),
    path("sign-out", views.SignOutView.as_view(), name="sign-out"),
    path("purchase", views.purchase, name="purchase"),
    path("purchase/success", views.purchase_success, name="purchase-success"),
    path("purchase/cancel", views.purchase_cancel, name="purchase-cancel"),
    path("purchase/status", views.purchase_status, name="purchase-status"),
    path("account", views.account, name="account"),
    path("account/password", views.account_password, name="account-password"),
    path("account/alerts", views.account_alerts, name="account-alerts"),
    path("account/balance", views.balance, name="balance"),
    path("invoices", views.invoices, name="invoices"),
    path("invoices/<anyuuid:invoice_id>", views.invoice_detail, name="invoice"),
    path("invoices/<anyuuid:invoice_id>/pay", views.invoice_pay_page, name="invoice-pay"),
    path("invoices/<anyuuid:invoice_id>/cancel", views.invoice_cancel_page, name="invoice-cancel"),
    path("invoices/<anyuuid:invoice_id>/receipt.pdf", views.invoice_receipt_pdf, name="receipt"),
    path("transactions", views.transactions, name="transactions"),
    path("usage", views.usage, name="usage"),
]
