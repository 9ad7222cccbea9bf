"""Routes that fail on purpose, for the error-shape tests."""

from django.urls import include, path
from rest_framework import permissions
from rest_framework.views import APIView


class ExplodingView(APIView):
    permission_classes = [permissions.AllowAny]

    def get(self, request):
        raise RuntimeError("secret internal detail")


def exploding_page(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("api/v1/explode", ExplodingView.as_view()),
    path("explode", exploding_page),
    path("", include("config.urls")),
]
