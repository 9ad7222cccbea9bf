"""Swagger UI at /api/docs/ under a Content-Security-Policy of its own (the middleware passes
/api/ by): drf-spectacular's split view, whose start-up script is a file from this server
(`?script`) instead of an inline one, and a page without the inline style."""

from __future__ import annotations

from csp.utils import build_policy
from drf_spectacular.views import SpectacularSwaggerSplitView

from config.content_security import API_DOCS_DIRECTIVES


class SwaggerView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.GET.get("script") is None:
            response["Content-Security-Policy"] = build_policy(config=API_DOCS_DIRECTIVES)
        return response
