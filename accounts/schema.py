"""OpenAPI: the service key is its own bearer scheme, and the access token is simplejwt's
(imported by accounts.apps)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.AccessTokenAuthentication"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "serviceKey"

    def get_security_requirement(self, auto_schema):
        """Only on the views that take a key: every other one refuses it with 403
        (accounts.authentication), so the schema must not offer it there."""
        if not getattr(auto_schema.view, "service_keys_allowed", False):
            return None
        return super().get_security_requirement(auto_schema)

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A service API key, `tbk_…`: only the /api/v1/users/{user_id}/… "
            "usage and hold endpoints accept it.",
        }
