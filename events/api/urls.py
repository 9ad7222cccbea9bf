from django.urls import path, register_converter

from events.api import views
from events.api.converters import EventIdConverter

register_converter(EventIdConverter, "event_id")

app_name = "events"

ENDPOINT = "admin/webhook-endpoints/<anyuuid:pk>"

urlpatterns = [
    path("admin/webhook-endpoints", views.EndpointsView.as_view(), name="endpoints"),
    path(ENDPOINT, views.EndpointView.as_view(), name="endpoint"),
    path(f"{ENDPOINT}/rotate-secret", views.RotateSecretView.as_view(), name="rotate-secret"),
    path(f"{ENDPOINT}/test", views.PingView.as_view(), name="ping"),
    path(f"{ENDPOINT}/deliveries", views.AttemptsView.as_view(), name="attempts"),
    path("admin/webhook-events/<event_id:pk>/resend", views.ResendView.as_view(), name="resend"),
]
