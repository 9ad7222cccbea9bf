"""The rows staff selected on a list that were gone when its action ran."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest


def selected_gone(model_admin: admin.ModelAdmin, request: HttpRequest, found: Iterable) -> int:
    """How many of the rows selected on the list are not among `found`, the ids the action
    read: deleted since the list was drawn (old events by the purge, an endpoint by another
    staff member). Django runs an action on the rows it still finds and says nothing of the
    others, so a resend of a purged event said "0 deliveries queued again". A selection of
    every row (select_across) names none, so none is missing from it."""
    if forms.BooleanField(required=False).clean(request.POST.get("select_across")):
        return 0
    pk = model_admin.model._meta.pk
    selected = {pk.to_python(value) for value in request.POST.getlist(ACTION_CHECKBOX_NAME)}
    return len(selected - set(found))


def already_deleted(count: int, noun: str, *, by: str) -> str:
    """What an action says of the `count` selected rows that were gone: "1 selected event
    was already deleted by ...: nothing was done.", or "2 selected events were ..."."""
    were = f"1 selected {noun} was" if count == 1 else f"{count} selected {noun}s were"
    return f"{were} already deleted by {by}: nothing was done."
