"""Routes: the versioned API under /api/v1/, its schema and docs, health, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.views import favicon, health, metrics
from pages.staff import billing_overview_page

# Each app's API included straight under /api/v1/: every level of include costs the
# resolver a match object of its own on every request. The public listing and the ledger
# come first; the rarely called auth and staff routes pass the others first.
urlpatterns = [
    path("api/v1/", include("catalog.api.urls")),
    path("api/v1/", include("tokens.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("events.api.urls")),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/overview/", billing_overview_page, name="billing-overview"),
    path("admin/", admin.site.urls),
    path("test-checkout/", include("billing.hosted.urls")),
    path("", include("pages.urls")),
]
