"""The endpoints' address and rows, shared by the test_api_endpoint_* modules."""

ENDPOINTS = "/api/v1/admin/webhook-endpoints"
