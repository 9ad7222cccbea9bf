"""`common.api.serializers.RequestSerializer`: the hot writes' bodies are judged exactly as
DRF's own field copies judge them, and no two requests share a field's state."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from billing.api.serializers import CheckoutRequestSerializer
from tokens.api.serializers.ledger import ConsumeRequestSerializer
from tokens.api.serializers.usage import (
    HoldCaptureRequestSerializer,
    HoldRequestSerializer,
    UsageRequestSerializer,
)

LEAN = [
    ConsumeRequestSerializer,
    UsageRequestSerializer,
    HoldRequestSerializer,
    HoldCaptureRequestSerializer,
    CheckoutRequestSerializer,
]


def with_deep_copies(lean: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The same serializer with DRF's own `get_fields` (a deep copy of every field)."""
    return type(f"Deep{lean.__name__}", (lean,), {"get_fields": serializers.Serializer.get_fields})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=600)
    | st.uuids().map(str)
    | st.sampled_from(["", "true", "false", "\x00", "1", "\ud800"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def bodies(serializer: type[serializers.Serializer]):
    names = st.sampled_from([*serializer._declared_fields, "extra"])
    return st.dictionaries(names, json_values, max_size=6)


def judged(serializer: type[serializers.Serializer], body: dict) -> tuple:
    checked = serializer(data=body)
    valid = checked.is_valid()
    return valid, checked.validated_data if valid else checked.errors


@pytest.mark.parametrize("lean", LEAN, ids=lambda s: s.__name__)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_body_is_judged_as_drfs_deep_copies_judge_it(lean, data):
    body = data.draw(bodies(lean))

    assert judged(lean, body) == judged(with_deep_copies(lean), body)


@pytest.mark.parametrize("lean", LEAN, ids=lambda s: s.__name__)
def test_each_request_binds_fields_of_its_own(lean):
    first, second = lean(data={}), lean(data={})

    for name, declared in lean._declared_fields.items():
        mine, theirs = first.fields[name], second.fields[name]
        assert mine is not theirs
        assert mine is not declared
        assert (mine.parent, theirs.parent) == (first, second)
        assert mine.field_name == theirs.field_name == name
        assert getattr(declared, "parent", None) is None


def test_each_request_has_its_own_list_field_and_child():
    first, second = CheckoutRequestSerializer(data={}), CheckoutRequestSerializer(data={})

    mine, theirs = first.fields["token_bundle_ids"], second.fields["token_bundle_ids"]
    assert mine.child is not theirs.child
    assert (mine.child.parent, theirs.child.parent) == (mine, theirs)
    declared = CheckoutRequestSerializer._declared_fields["token_bundle_ids"]
    assert declared.child.parent is declared
    assert mine.child.source == declared.child.source == ""


def test_a_mutable_default_is_not_shared_between_requests():
    class Tagged(CheckoutRequestSerializer):
        tags = serializers.JSONField(required=False, default=[])

    first, second = Tagged(data={}), Tagged(data={})
    assert first.is_valid()
    assert second.is_valid()
    first.validated_data["tags"].append("mine")

    assert second.validated_data["tags"] == []
    assert Tagged._declared_fields["tags"].default == []


# What `bind` sets on a field for its serializer; everything else is the declared field's.
BOUND = {"field_name", "parent", "label", "source", "source_attrs", "child"}


@pytest.mark.parametrize("lean", LEAN, ids=lambda s: s.__name__)
def test_each_field_is_the_declared_one_bound_to_its_request(lean):
    fields = lean(data={}).fields

    for name, declared in lean._declared_fields.items():
        mine = fields[name]
        assert type(mine) is type(declared)
        assert {k: v for k, v in vars(mine).items() if k not in BOUND} == {
            k: v for k, v in vars(declared).items() if k not in BOUND
        }
        assert (mine.field_name, mine.source_attrs) == (name, [declared.source or name])
