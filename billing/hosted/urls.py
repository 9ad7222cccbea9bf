from django.urls import path

from billing.hosted import views

app_name = "test_checkout"

urlpatterns = [
    path("<anyuuid:invoice_id>", views.checkout_page, name="page"),
]
