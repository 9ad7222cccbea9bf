"""drf-spectacular's settings: how the OpenAPI schema describes the API."""

SCHEMA_SETTINGS = {
    "TITLE": "Token billing API",
    "DESCRIPTION": "Prepaid token bundles, plans and add-ons. The contract is docs/api.md.",
    "VERSION": "1.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would send the schema's address to validator.swagger.io and show its badge
    # from there, an image the docs' Content-Security-Policy refuses (common/api/docs.py).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Ids in paths: a UUID in either case (common.converters), described as Django's `uuid`.
    "PATH_CONVERTER_OVERRIDES": {"anyuuid": {"type": "string", "format": "uuid"}},
    "ENUM_NAME_OVERRIDES": {
        "BillingPeriodEnum": "catalog.models.BillingPeriod",
        "PlanBillingPeriodEnum": "catalog.models.PLAN_PERIOD_CHOICES",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "ItemStatusEnum": "billing.models.ItemStatus",
        "PurchaseStatusEnum": "billing.models.TokenBundlePurchase.Status",
        "WebhookStatusEnum": [("success", "success"), ("already_processed", "already_processed")],
        "LotCategoryEnum": "tokens.models.LotCategory",
        "LotStatusEnum": "tokens.selectors.LOT_STATUSES",
        "GrantCategoryEnum": "tokens.services.lots.GRANTABLE",
        "PaymentProviderEnum": "billing.models.Invoice.Provider",
        "PayProviderEnum": [("stripe", "stripe"), ("test", "test")],
    },
}
