from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm

from accounts.services import password_refusals, user_password_set
from billing.models import Invoice
from common.errors import Invalid
from pages.selectors import PriceList
from tokens.models import TokenTransaction
from tokens.selectors import HistoryFilters
from tokens.services.alerts import MAX_THRESHOLD


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class PasswordForm(PasswordChangeForm):
    """Django's check of the current password and its validators; the new password is
    written alone (accounts.services.user_password_set), never the whole user the page read."""

    def set_password_and_save(
        self, user: AbstractBaseUser, password_field_name: str, commit: bool = True
    ) -> AbstractBaseUser:
        if commit:
            user_password_set(user=user, password=self.cleaned_data[password_field_name])
        else:
            user.set_password(self.cleaned_data[password_field_name])
        return user


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

    def clean(self) -> dict:
        """A refused email shows a refused password too (user_register checks the password
        only once the form is valid): every error at once."""
        cleaned = super().clean()
        if self.has_error("email") and "password" in cleaned:
            email = self.data.get("email", "")
            if refused := password_refusals(password=cleaned["password"], email=email):
                self.add_error("password", " ".join(refused))
        return cleaned


def _gone(what: str) -> str:
    return f"{what}, so nothing was ordered. Please choose again from the ones shown."


class PurchaseForm(forms.Form):
    """The plan, bundles and add-ons chosen on the purchase page; `submission` makes a double
    click one checkout."""

    # An item missing from the choices was on sale when the page was drawn (a tab left open
    # while staff retired it): said in words, not as Django's "<uuid> is not one of the
    # available choices".
    plan = forms.TypedChoiceField(
        coerce=uuid.UUID,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _gone("The plan you chose is no longer offered")},
    )
    bundles = forms.TypedMultipleChoiceField(
        coerce=uuid.UUID,
        required=False,
        error_messages={"invalid_choice": _gone("A bundle you chose is no longer on sale")},
    )
    add_ons = forms.TypedMultipleChoiceField(
        coerce=uuid.UUID,
        required=False,
        error_messages={"invalid_choice": _gone("An add-on you chose is no longer on sale")},
    )
    submission = forms.UUIDField(widget=forms.HiddenInput)

    # Where checkout's refusals belong on this form.
    CHECKOUT_FIELDS = {"plan_id": "plan", "token_bundle_ids": "bundles", "add_on_ids": "add_ons"}

    def __init__(self, *args, price_list: PriceList, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.price_list = price_list
        self.fields["plan"].choices = [("", "No plan"), *_ids(price_list.plans)]
        self.fields["bundles"].choices = _ids(price_list.bundles)
        self.fields["add_ons"].choices = _ids(price_list.add_ons)

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors and not (
            cleaned.get("plan") or cleaned.get("bundles") or cleaned.get("add_ons")
        ):
            raise forms.ValidationError("Choose at least one bundle, plan or add-on.")
        return cleaned

    def add_checkout_error(self, error: Invalid) -> None:
        self.add_error(self.CHECKOUT_FIELDS.get(error.field), error.message)

    def with_new_submission(self) -> PurchaseForm:
        """The same choices under a new submission: what the old one bought was cancelled,
        and a Buy sent with it would only be told so again."""
        data = self.data.copy()
        data["submission"] = str(uuid.uuid4())
        renewed = PurchaseForm(data, price_list=self.price_list)
        renewed.is_valid()
        return renewed


def _ids(items) -> list[tuple[str, str]]:
    return [(str(item.pk), item.name) for item in items]


class PagedFilterForm(forms.Form):
    """A list's filters and the page number its pager links to. The page is not drawn in the
    form: a filter sent from it starts again at page 1 (sent with the page it was on, a
    filter leaving fewer rows asked for a page past its last: 404). A bad page number is
    said with the form's own errors, as a hidden field's error showed nowhere."""

    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def hidden_fields(self) -> list:
        return []

    def clean(self) -> dict:
        cleaned = super().clean()
        for message in self.errors.pop("page", []):
            self.add_error(None, f"Page: {message}")
        return cleaned


class InvoiceFilterForm(PagedFilterForm):
    status = forms.ChoiceField(
        label="Status", choices=[("", "All invoices"), *Invoice.Status.choices], required=False
    )


class AlertsForm(forms.Form):
    """The low-balance warning as a person thinks of it: the default, a number, or never."""

    DEFAULT, OWN, NEVER = "default", "own", "never"

    when = forms.ChoiceField(label="Warn me", widget=forms.RadioSelect)
    threshold = forms.IntegerField(
        label="Below how many tokens",
        min_value=1,
        max_value=MAX_THRESHOLD,
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args, default_threshold: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["when"].choices = [
            (self.DEFAULT, f"When my balance falls below {default_threshold} tokens (the default)"),
            (self.OWN, "When my balance falls below a number I choose"),
            (self.NEVER, "Never"),
        ]

    @classmethod
    def initial_for(cls, own_threshold: int | None) -> dict:
        if own_threshold is None:
            return {"when": cls.DEFAULT}
        if own_threshold == 0:
            return {"when": cls.NEVER}
        return {"when": cls.OWN, "threshold": own_threshold}

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("when") == self.OWN and cleaned.get("threshold") is None:
            self.add_error("threshold", "Enter the number of tokens to be warned below.")
        return cleaned

    def own_threshold(self) -> int | None:
        """What alerts_set stores: None for the default, 0 for never."""
        when = self.cleaned_data["when"]
        if when == self.DEFAULT:
            return None
        return 0 if when == self.NEVER else self.cleaned_data["threshold"]


TYPE_CHOICES = [("", "All types"), *TokenTransaction.Type.choices]


class HistoryFilterForm(PagedFilterForm):
    type = forms.ChoiceField(label="Type", choices=TYPE_CHOICES, required=False)
    # The number of the newest entry when the list's first page was read, kept by the pager's
    # links (pages.selectors.history_as_read); a filter sent from the form reads anew.
    upto = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        for message in self.errors.pop("upto", []):
            self.add_error(None, f"Newest entry: {message}")
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
            # The last day a date can be has no day after it: nothing is later anyway.
            created_before=_midnight(end) + timedelta(days=1) if end and end < date.max else None,
        )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
