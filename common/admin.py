"""What every model admin of the project shares: lists whose filters and actions cannot
reach a 500, and change pages that refuse a save from a page showing an older row."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList as DjangoChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import DataError, connections, models, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property

from common.errors import NotFound
from common.forms import TrimmedCharField
from common.templatetags.money import money


class ChangeList(DjangoChangeList):
    """Django's list, answering a query string the database cannot run as Django answers a
    filter on an unknown field (the list again, with "?e=1"). Django checks a filter's field,
    not its value, so these were 500s: a NUL character (PostgreSQL refuses it in text), a
    number beyond its column (`?status_code__in=99999999999999999999`), a year outside
    1..9999 (`?created_at__year=-1`, or 9999 in the date hierarchy, which asks for the year
    after)."""

    def get_filters(self, request: HttpRequest):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_ordering_field(self, field_name):
        """None, so not sorted by, for a column the admin's `sortable_by` leaves out: Django
        only draws no sort link for it, and sorted by it all the same for a `?o=` written
        by hand, along no index on a big table."""
        if field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def get_results(self, request: HttpRequest) -> None:
        try:
            with transaction.atomic(using=router.db_for_read(self.model)):
                super().get_results(request)
        except (DataError, OverflowError, ValueError) as error:
            raise IncorrectLookupParameters(error) from error


class EstimatedCountPaginator(Paginator):
    """A list's pages counted from PostgreSQL's statistics when the list is a whole big
    table: Django counts the list for its pager on every load (`SELECT COUNT(*)`), which
    reads the whole table and grows with it (300,000 ledger entries: 47 ms of the page's
    183 ms; 1,000,000: most of the page). The estimate (`pg_class.reltuples`, kept by
    autovacuum) is within a few percent, so the last page may be short or empty and a
    few of the oldest rows reachable only by a filter. A filtered or searched list, a
    smaller table, SQLite, and a table never analysed are counted exactly."""

    ESTIMATE_FROM = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        database = connections[queryset.db]
        if database.vendor == "postgresql" and not queryset.query.where:
            with database.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                    [database.ops.quote_name(queryset.model._meta.db_table)],
                )
                row = cursor.fetchone()
            if row is not None and row[0] >= self.ESTIMATE_FROM:
                return int(row[0])
        return super().count


class ModelAdmin(admin.ModelAdmin):
    """The project's model admin (a user admin puts it before Django's UserAdmin)."""

    paginator = EstimatedCountPaginator

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return ChangeList

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """A save that a service refuses because someone else deleted the row after the page
        read it (NotFound) is a message and the list, not a 500; Django's transaction around
        the view has rolled everything back."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except NotFound:
            return self.deleted_meanwhile(request)

    def deleted_meanwhile(self, request: HttpRequest) -> HttpResponse:
        """The answer to a save refused as the row was deleted meanwhile: a message and the
        list."""
        self.message_user(
            request,
            f"This {self.model._meta.verbose_name} was deleted meanwhile: nothing was saved.",
            messages.ERROR,
        )
        opts = self.model._meta
        return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))

    def to_field_allowed(self, request: HttpRequest, to_field: str) -> bool:
        """A relation that points at this model from elsewhere (`?_to_field=deliveries`) is
        refused as an unknown field is (400): it has no value here to pick a row by, and
        Django read its `primary_key`, which it has not (AttributeError: a 500 on the list,
        add and change pages)."""
        try:
            field = self.model._meta.get_field(to_field)
        except FieldDoesNotExist:
            return False
        return field.concrete and super().to_field_allowed(request, to_field)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Refuses a selection with an id that is none of this model's (only a hand-made POST
        sends one): Django filters by it as it comes, and the UUID's ValidationError was a
        500. None sends staff back to the list, as an empty selection does."""
        try:
            for pk in request.POST.getlist(ACTION_CHECKBOX_NAME):
                self.model._meta.pk.to_python(pk)
        except ValidationError:
            self.message_user(
                request,
                "The selection names no such rows. Nothing was changed.",
                messages.WARNING,
            )
            return None
        return super().response_action(request, queryset)


class ReadOnly:
    """Rows that only services write (a model admin or an inline): staff may look, not add,
    change or delete them here."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class TrimmedTextModelAdmin(ModelAdmin):
    """A model admin whose text fields trim as the API's do (common.text.trimmed): a name or
    description of invisible characters alone is blank here as it is there, invisible ends
    are not stored, and `max_length` counts what is left. Django's forms strip whitespace
    only."""

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        # Plain text columns only: an EmailField or URLField keeps its own form field.
        if type(db_field) in (models.CharField, models.TextField) and not db_field.choices:
            kwargs.setdefault("form_class", TrimmedCharField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


def shown_state(instance: models.Model, fields: Iterable[str]) -> str:
    """A digest of `fields` of `instance` as they are now, a many-to-many one as its ids."""
    values = []
    for name in fields:
        field = instance._meta.get_field(name)
        if field.many_to_many:
            related = getattr(instance, name).values_list("pk", flat=True)
            values.append(sorted(str(pk) for pk in related))
        else:
            values.append(getattr(instance, field.attname))
    return hashlib.sha256(repr(values).encode()).hexdigest()


class ChangedMeanwhile(Exception):
    """The row was changed (or deleted) by someone else since its change page was opened."""


class ShownStateForm(forms.ModelForm):
    """Carries a digest of what the change page showed of `shown_fields` (`read_state`,
    hidden), for a model with no version to compare: Django's admin judges a field changed
    against the row as it is when the save arrives, so a value someone else changed since
    the page was opened looked changed and was written back (RefusesStaleSaves refuses it)."""

    read_state = forms.CharField(widget=forms.HiddenInput, required=False)
    shown_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["read_state"].initial = shown_state(self.instance, self.shown_fields)

    @property
    def changed_data(self) -> list[str]:
        """The row's fields only: a digest is no change (it would be logged as one)."""
        return [name for name in super().changed_data if name != "read_state"]


class RefusesStaleSaves:
    """A model admin (its form a ShownStateForm) whose change page writes nothing when the row
    is no longer what the page showed, and says so: save_model locks the row and compares,
    and Django's atomic change view rolls the refused save back."""

    shown_as_now = "it as it is now"

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ChangedMeanwhile as changed:
            self.message_user(
                request,
                f"Nothing was saved: {changed} was changed by someone else since you opened "
                f"the page. The page shows {self.shown_as_now}; make your change again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: models.Model, form, change: bool) -> None:
        """Raises ChangedMeanwhile when the page showed the row otherwise than it is now, and
        NotFound when it was deleted since this request read it (ModelAdmin.changeform_view
        says so; a save of a row that is gone was a 500).

        A change writes only the columns the form changed, as catalog_item_save does: the
        others are as this request read them before the lock, and a write committed since (a
        user's new password, a sign-in's last_login) was put back by a save of every column.
        The row is locked FOR NO KEY UPDATE, as that write: FOR UPDATE also waited for every
        row naming it (a History row naming a user whose page this is: two superusers
        changing each other at once deadlocked)."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        try:
            current = type(obj)._default_manager.select_for_update(no_key=True).get(pk=obj.pk)
        except type(obj).DoesNotExist:
            raise NotFound(f"This {obj._meta.verbose_name} was deleted meanwhile.") from None
        shown = form.cleaned_data.get("read_state")
        if shown and shown != shown_state(current, form.shown_fields):
            raise ChangedMeanwhile(current)
        obj.save(update_fields=_changed_columns(obj, form.changed_data))


def _changed_columns(instance: models.Model, changed: Iterable[str]) -> list[str]:
    """The names in `changed` that are columns of `instance` (not a many-to-many, which the
    form saves itself, nor a form-only field)."""
    columns = []
    for name in changed:
        try:
            field = instance._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.concrete and not field.many_to_many:
            columns.append(name)
    return columns


def money_column(field: str, description: str) -> object:
    """A list column writing `field` as the pages and the API do: `¥500`, `$5.00`. The
    column (two places) printed a yen amount as `500.00` beside no currency. The row's
    `currency` must be selected with it (`list_select_related`). A class attribute of the
    ModelAdmin, so a method: `model_admin` is the admin."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: admin.ModelAdmin, obj: models.Model) -> str:
        return money(getattr(obj, field), obj.currency)

    return column
