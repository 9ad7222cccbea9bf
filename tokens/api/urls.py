from django.urls import path

from tokens.api import views

app_name = "tokens"

USER = "users/<anyuuid:user_id>"

# The hot paths first: Django tries the patterns in order on every request.
urlpatterns = [
    path("user/tokens/balance", views.BalanceView.as_view(), name="balance"),
    path("user/tokens/consume", views.ConsumeView.as_view(), name="consume"),
    path(f"{USER}/usage", views.ServiceUsageView.as_view(), name="service-usage"),
    path("user/alerts", views.AlertsView.as_view(), name="alerts"),
    path("user/usage", views.UsageView.as_view(), name="usage"),
    path("user/usage/<anyuuid:pk>", views.UsageDetailView.as_view(), name="usage-detail"),
    path("user/holds", views.HoldsView.as_view(), name="holds"),
    path("user/holds/<anyuuid:pk>", views.HoldView.as_view(), name="hold"),
    path("user/holds/<anyuuid:pk>/capture", views.HoldCaptureView.as_view(), name="hold-capture"),
    path("user/holds/<anyuuid:pk>/release", views.HoldReleaseView.as_view(), name="hold-release"),
    path(
        f"{USER}/usage/<anyuuid:pk>/refund",
        views.ServiceUsageRefundView.as_view(),
        name="service-usage-refund",
    ),
    path(f"{USER}/holds", views.ServiceHoldsView.as_view(), name="service-holds"),
    path(f"{USER}/holds/<anyuuid:pk>", views.ServiceHoldView.as_view(), name="service-hold"),
    path(
        f"{USER}/holds/<anyuuid:pk>/capture",
        views.ServiceHoldCaptureView.as_view(),
        name="service-hold-capture",
    ),
    path(
        f"{USER}/holds/<anyuuid:pk>/release",
        views.ServiceHoldReleaseView.as_view(),
        name="service-hold-release",
    ),
    path("user/tokens/transactions", views.HistoryView.as_view(), name="transactions"),
    path("user/tokens/transactions/<anyuuid:pk>", views.EntryView.as_view(), name="transaction"),
    path("user/tokens/lots", views.LotListView.as_view(), name="lots"),
    path(
        "admin/users/<anyuuid:user_id>/tokens/adjust",
        views.StaffAdjustView.as_view(),
        name="staff-adjust",
    ),
    path(
        "admin/users/<anyuuid:user_id>/tokens/grants",
        views.StaffGrantView.as_view(),
        name="staff-grant",
    ),
    path("admin/lots/<anyuuid:pk>/void", views.StaffLotVoidView.as_view(), name="staff-lot-void"),
    path(
        "admin/token-transactions/<anyuuid:pk>/refund",
        views.StaffUsageRefundView.as_view(),
        name="staff-usage-refund",
    ),
]
