"""Routes: the versioned API under /api/v1/, its schema and docs, health, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.views import favicon, health, metrics
from pages.staff import billing_overview_page

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("tokens.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("events.api.urls")),
]

urlpatterns = [
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/overview/", billing_overview_page, name="billing-overview"),
    path("admin/", admin.site.urls),
    path("test-checkout/", include("billing.hosted.urls")),
    path("", include("pages.urls")),
]
