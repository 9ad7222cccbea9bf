"""Request serializers for the keyed writes that run on every call (consume, usage, holds,
checkout)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache

from rest_framework import serializers


# Validates as DRF's `Serializer` does, with cheaper copies of its declared fields. A comment,
# not a docstring: drf-spectacular would describe every request body built on it with it.
#
# DRF gives every serializer instance deep copies of the class's fields, and a field's deep copy
# builds it again from its arguments, its validators and messages included: about half of a
# consume body's validation (30 of 60 µs, and 31 of 76 µs for usage, measured). A field of plain
# values keeps nothing of its own but what `bind` sets on it, so a shallow copy serves as well.
# Other fields that hold fields (a nested serializer, a list of lists) or a mutable default are
# deep copied, as DRF does; a list of plain values is copied with a shallow copy of its child
# (checkout's lists of ids).
class RequestSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy_of(field) for name, field, copy_of in _copies(type(self))}


@cache
def _copies(serializer: type[serializers.Serializer]) -> tuple:
    """Each declared field with how it is copied, chosen once per serializer class: the
    choice depends only on the declared fields, and making it on every request cost a
    consume's body as much as the copies themselves (docs/decisions.md, Speed)."""
    return tuple(
        (name, field, _copier(field)) for name, field in serializer._declared_fields.items()
    )


def _copier(field: serializers.Field) -> Callable[[serializers.Field], serializers.Field]:
    if _plain(field):
        return _shallow_copy
    if _list_of_plain_values(field):
        return _list_copy
    return copy.deepcopy


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    """A new field of the same class with the same attributes, as `copy.copy` makes it (the
    declared field's `__dict__` over a bare instance) without its protocol's look-ups."""
    copied = object.__new__(type(field))
    copied.__dict__.update(field.__dict__)
    return copied


def _list_copy(field: serializers.ListField) -> serializers.ListField:
    """The list and its child each copied shallowly. The child's binding (its name and
    source, set when the list was declared) stays; only its parent is the new list."""
    copied = _shallow_copy(field)
    copied.child = _shallow_copy(field.child)
    copied.child.parent = copied
    return copied


def _plain(field: serializers.Field) -> bool:
    """Whether a field keeps nothing of its own but plain values: no fields inside it (a
    list's child, a nested serializer) and no mutable default."""
    holds_fields = isinstance(field, serializers.BaseSerializer) or any(
        hasattr(field, name) for name in ("child", "child_relation")
    )
    return not holds_fields and not _mutable_default(field)


def _list_of_plain_values(field: serializers.Field) -> bool:
    return (
        isinstance(field, serializers.ListField)
        and not _mutable_default(field)
        and _plain(field.child)
    )


def _mutable_default(field: serializers.Field) -> bool:
    return isinstance(field._kwargs.get("default"), list | dict | set)
