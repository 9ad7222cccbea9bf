from django.contrib.auth import views as auth_views
from django.urls import path

from pages import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.SignInView.as_view(), name="sign-in"),
    path("sign-up", views.sign_up, name="sign-up"),
    path("sign-out", auth_views.LogoutView.as_view(), name="sign-out"),
    path("purchase", views.purchase, name="purchase"),
    path("purchase/success", views.purchase_success, name="purchase-success"),
    path("purchase/cancel", views.purchase_cancel, name="purchase-cancel"),
    path("purchase/status", views.purchase_status, name="purchase-status"),
    path("account/balance", views.balance, name="balance"),
    path("transactions", views.transactions, name="transactions"),
    path("usage", views.usage, name="usage"),
]
