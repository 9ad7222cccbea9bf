from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from tokens.models import TokenTransaction
from tokens.selectors import HistoryFilters


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class SignUpForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only digits, not a common password.",
    )


class PurchaseForm(forms.Form):
    """The bundles chosen on the purchase page; `submission` makes a double click one checkout."""

    bundles = forms.TypedMultipleChoiceField(
        coerce=str,
        error_messages={"required": "Choose at least one bundle."},
    )
    submission = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, bundle_ids: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["bundles"].choices = [(bundle_id, bundle_id) for bundle_id in bundle_ids]


TYPE_CHOICES = [("", "All types"), *TokenTransaction.Type.choices]


class HistoryFilterForm(forms.Form):
    type = forms.ChoiceField(label="Type", choices=TYPE_CHOICES, required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must not be before the start date.")
        return cleaned

    def history_filters(self) -> HistoryFilters:
        """Whole days in UTC: "to" includes its own day."""
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return HistoryFilters(
            transaction_type=self.cleaned_data.get("type") or None,
            created_after=_midnight(start) if start else None,
            created_before=_midnight(end) + timedelta(days=1) if end else None,
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
