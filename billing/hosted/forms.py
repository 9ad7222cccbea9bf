from __future__ import annotations

from django import forms


class CheckoutDecisionForm(forms.Form):
    """Pay or Decline, with the one-time token the page was rendered with."""

    form_token = forms.CharField(widget=forms.HiddenInput, max_length=500)
    decision = forms.ChoiceField(choices=[("pay", "Pay"), ("decline", "Decline")])
