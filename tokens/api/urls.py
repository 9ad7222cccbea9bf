from django.urls import path

from tokens.api import views

app_name = "tokens"

urlpatterns = [
    path("user/tokens/balance", views.BalanceView.as_view(), name="balance"),
    path("user/tokens/transactions", views.HistoryView.as_view(), name="transactions"),
    path("user/tokens/transactions/<uuid:pk>", views.EntryView.as_view(), name="transaction"),
    path("user/tokens/lots", views.LotListView.as_view(), name="lots"),
    path("user/tokens/consume", views.ConsumeView.as_view(), name="consume"),
    path(
        "admin/users/<uuid:user_id>/tokens/adjust",
        views.StaffAdjustView.as_view(),
        name="staff-adjust",
    ),
    path(
        "admin/users/<uuid:user_id>/tokens/grants",
        views.StaffGrantView.as_view(),
        name="staff-grant",
    ),
    path("admin/lots/<uuid:pk>/void", views.StaffLotVoidView.as_view(), name="staff-lot-void"),
    path(
        "admin/token-transactions/<uuid:pk>/refund",
        views.StaffUsageRefundView.as_view(),
        name="staff-usage-refund",
    ),
]
