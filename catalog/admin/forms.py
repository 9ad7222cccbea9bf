"""The catalog admin's forms: the API's rules and the database's CHECKs as messages beside
their fields."""

from __future__ import annotations

import copy

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import CheckConstraint, Model
from django.forms.models import construct_instance

from catalog import services
from common.admin import TrimmedTextModelAdmin
from common.errors import Invalid

# What staff read when a value breaks one of the database's CHECK constraints, next to the
# field (the test keeps this in step with the models: a constraint's name is never shown).
CONSTRAINT_MESSAGES = {
    **{
        f"catalog_{model}_price_positive": "Enter a price above zero."
        for model in ("tokenbundle", "addon", "plan")
    },
    **{
        f"catalog_{model}_description_at_most_5000": "Enter at most 5000 characters."
        for model in ("tokenbundle", "addon", "plan")
    },
    "catalog_tokenbundle_tokens_positive": "A bundle holds at least 1 token.",
    "catalog_tokenbundle_expiry_1_to_3650_days": (
        "Enter 1 to 3650 days, or leave it empty for tokens that never expire."
    ),
    "catalog_addon_billing_period_valid": "Choose monthly, yearly or one time.",
    "catalog_plan_included_tokens_gte_0": "Enter 0 or more tokens.",
    "catalog_plan_usage_mode_valid": "Choose metered or unlimited.",
    "catalog_plan_billing_period_valid": "A plan renews monthly or yearly.",
    "catalog_currency_places_at_most_2": "At most 2 decimal places.",
    "catalog_currency_code_iso": "Three capital letters, as in ISO 4217: USD, EUR, GBP.",
}
SOME_RULE = "This value is not allowed here."


class CatalogModelAdmin(TrimmedTextModelAdmin):
    """The catalog's admin: its text fields trim as the API's do (common.text.trimmed), so a
    name of invisible characters alone is refused here as it is there."""


class ConstraintMessagesForm(forms.ModelForm):
    """Checks the model's CHECK constraints itself, before Django's own check would put
    "Constraint “catalog_…” is violated." at the top of the form, and puts a sentence for a
    person beside the field the constraint is about."""

    def clean(self) -> dict:
        cleaned = super().clean()
        candidate = construct_instance(
            self, copy.copy(self.instance), self._meta.fields, self._meta.exclude
        )
        checks = [c for c in type(candidate)._meta.constraints if isinstance(c, CheckConstraint)]
        refused = set(self.errors) | self._refused_by_the_model(candidate, checks)
        for constraint in checks:
            self._check(constraint, candidate, refused)
        return cleaned

    def _refused_by_the_model(self, candidate: Model, checks: list[CheckConstraint]) -> set[str]:
        """The constraints' fields whose value the model's own validators refuse (a number
        beyond its column). Django says so beside the field after this clean(); a constraint
        is not checked with such a value, which the database cannot even be sent (a number
        past bigint raised OverflowError: a 500)."""
        names = {
            name
            for constraint in checks
            for name in constraint.condition.referenced_base_fields
            if name in self.fields and name not in self.errors
        }
        others = {field.name for field in candidate._meta.fields} - names
        try:
            candidate.clean_fields(exclude=others)
        except ValidationError as error:
            return set(error.error_dict)
        return set()

    def _check(self, constraint: CheckConstraint, candidate: Model, refused: set[str]) -> None:
        fields = [f for f in constraint.condition.referenced_base_fields if f in self.fields]
        if any(field in refused for field in fields):
            return
        try:
            constraint.validate(type(candidate), candidate, exclude=refused)
        except ValidationError:
            field = fields[0] if fields else None
            self.add_error(field, CONSTRAINT_MESSAGES.get(constraint.name, SOME_RULE))


class ReadVersionForm(forms.ModelForm):
    """Carries the version of the item the page showed (`read_version`, hidden): Django
    compares what is sent with the item as it is when the save arrives, so a value someone
    else changed since the page was opened looked changed and was written back (a price
    put back, an item taken off sale put on sale again). catalog_item_save refuses it."""

    read_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["read_version"].initial = self.instance.version

    @property
    def changed_data(self) -> list[str]:
        """The item's fields only: a version is no change (a list's row otherwise counted
        as edited, and was logged as "Changed Read version")."""
        return [name for name in super().changed_data if name != "read_version"]


class CatalogItemForm(ConstraintMessagesForm, ReadVersionForm):
    """Shows the service's rules (default currency, price places) and the database's as
    form errors beside their fields, and carries the version the page showed."""

    def clean(self) -> dict:
        cleaned = super().clean()
        currency, price = cleaned.get("currency"), cleaned.get("price")
        try:
            if currency is not None:
                services.validate_currency(currency.id)
            if currency is not None and price is not None:
                services.validate_price(price, currency)
        except Invalid as error:
            field = "currency" if error.field == "currency_id" else error.field
            self.add_error(field, error.message)
        return cleaned
