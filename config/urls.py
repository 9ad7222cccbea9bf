"""Routes: the versioned API under /api/v1/, its schema and docs, health, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.admin.passwords import own_password_change
from common.api.docs import SwaggerView
from common.api.routes import RememberedRoutes
from common.views import favicon, health, metrics
from pages.staff import billing_overview_page
from pages.views.helpers import password_guess_counted, sign_in_throttled, throttled

# Each app's API under /api/v1/, each path resolved once per process (RememberedRoutes). A
# path's first resolution tries the apps in this order: the public listing and the ledger
# first, the rarely called auth and staff routes after the others.
API_URLCONFS = [
    "catalog.api.urls",
    "tokens.api.urls",
    "billing.api.urls",
    "accounts.api.urls",
    "events.api.urls",
]

urlpatterns = [
    RememberedRoutes("api/v1/", API_URLCONFS),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/overview/", billing_overview_page, name="billing-overview"),
    # Password guesses at the admin's sign-in count as the sign-in page's do (THROTTLE_AUTH),
    # and per email address with the sign-in page's and the API login's.
    path("admin/login/", sign_in_throttled(admin.site.login)),
    # The admin's own password page checks the current password too: counted per client
    # address with the pages', and per account with its sign-ins once admin_view (as the
    # admin's own route has it) has found a staff member and checked the CSRF token.
    path(
        "admin/password_change/",
        throttled(
            admin.site.admin_view(password_guess_counted(own_password_change), cacheable=True)
        ),
    ),
    path("admin/", admin.site.urls),
    path("test-checkout/", include("billing.hosted.urls")),
    path("", include("pages.urls")),
]

# The 404 page draws the header's balance from the database: pages.errors answers a 404
# when that fails, where Django's own answered 500.
handler404 = "pages.errors.page_not_found"
