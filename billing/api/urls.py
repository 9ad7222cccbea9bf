from django.urls import path

from billing.api import receipts, views, webhooks

app_name = "billing"

urlpatterns = [
    path("user/checkout", views.CheckoutView.as_view(), name="checkout"),
    path("user/invoices", views.InvoiceListView.as_view(), name="invoices"),
    path("user/invoices/<anyuuid:pk>", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path(
        "user/invoices/<anyuuid:pk>/cancel",
        views.InvoiceCancelView.as_view(),
        name="invoice-cancel",
    ),
    path("user/invoices/<anyuuid:pk>/pay", views.InvoicePayView.as_view(), name="invoice-pay"),
    path("user/invoices/<anyuuid:pk>/pdf", receipts.InvoicePdfView.as_view(), name="invoice-pdf"),
    path("user/subscription", views.SubscriptionView.as_view(), name="subscription"),
    path("webhooks/payment", webhooks.PaymentWebhookView.as_view(), name="webhook-payment"),
    path("webhooks/stripe", webhooks.StripeWebhookView.as_view(), name="webhook-stripe"),
    path("admin/invoices", views.StaffInvoiceListView.as_view(), name="staff-invoices"),
    path(
        "admin/invoices/<anyuuid:pk>/mark-paid",
        views.StaffMarkPaidView.as_view(),
        name="staff-invoice-mark-paid",
    ),
    path(
        "admin/invoices/<anyuuid:pk>/pdf",
        receipts.StaffInvoicePdfView.as_view(),
        name="staff-invoice-pdf",
    ),
    path(
        "admin/invoices/<anyuuid:pk>/refund",
        views.StaffRefundView.as_view(),
        name="staff-invoice-refund",
    ),
]
