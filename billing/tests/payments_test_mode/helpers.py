"""The test payment page's helpers, shared by this package's modules."""

from __future__ import annotations


def page_url(invoice) -> str:
    return f"/test-checkout/{invoice.pk}"


def open_form(client, invoice) -> str:
    """Opens the page as a browser would; returns the one-time token its form carries."""
    response = client.get(page_url(invoice))
    assert response.status_code == 200
    return response.context["form"].initial["form_token"]


def decide(client, invoice, token: str, decision: str = "pay"):
    return client.post(page_url(invoice), {"form_token": token, "decision": decision})
