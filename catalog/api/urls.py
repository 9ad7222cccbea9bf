from django.urls import URLPattern, include, path

from catalog.api import views

app_name = "catalog"

COLLECTION = {"get": "list", "post": "create"}
MEMBER = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
TOGGLE = {"post": "toggle_active"}

STAFF_VIEWSETS = {
    "token-bundles": views.TokenBundleStaffViewSet,
    "add-ons": views.AddOnStaffViewSet,
    "plans": views.PlanStaffViewSet,
}

staff: list[URLPattern] = []
for prefix, viewset in STAFF_VIEWSETS.items():
    staff += [
        path(prefix, viewset.as_view(COLLECTION), name=f"staff-{prefix}"),
        path(f"{prefix}/<anyuuid:pk>", viewset.as_view(MEMBER), name=f"staff-{prefix}-detail"),
        path(
            f"{prefix}/<anyuuid:pk>/toggle-active",
            viewset.as_view(TOGGLE),
            name=f"staff-{prefix}-toggle-active",
        ),
    ]

# The staff's routes behind one prefix: a request outside admin/ passes them by one
# comparison.
urlpatterns = [
    path("token-bundles", views.TokenBundleListView.as_view(), name="token-bundles"),
    path("add-ons", views.AddOnListView.as_view(), name="add-ons"),
    path("plans", views.PlanListView.as_view(), name="plans"),
    path("admin/", include(staff)),
]
