from django.urls import path

from accounts.api import views

app_name = "accounts"

urlpatterns = [
    path("auth/register", views.RegisterView.as_view(), name="register"),
    path("auth/login", views.LoginView.as_view(), name="login"),
    path("auth/refresh", views.RefreshView.as_view(), name="refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="logout"),
    path("auth/me", views.MeView.as_view(), name="me"),
    path("admin/api-keys", views.StaffApiKeysView.as_view(), name="staff-api-keys"),
    path("admin/api-keys/<anyuuid:pk>", views.StaffApiKeyView.as_view(), name="staff-api-key"),
]
