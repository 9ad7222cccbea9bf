import re

import pytest

from common.text import trimmed


def one_of_lists(node):
    if isinstance(node, dict):
        if "oneOf" in node:
            yield node["oneOf"]
        for value in node.values():
            yield from one_of_lists(value)
    elif isinstance(node, list):
        for value in node:
            yield from one_of_lists(value)


def what_matches(branch: dict, components: dict) -> tuple[str, frozenset]:
    """A oneOf branch as ("enum", its values) or ("type", its JSON types)."""
    if "$ref" in branch:
        branch = components[branch["$ref"].rsplit("/", 1)[1]]
    if "enum" in branch:
        return "enum", frozenset(branch["enum"])
    assert "type" in branch, f"a oneOf branch without type or enum: {branch}"
    types = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
    return "type", frozenset(types)


JSON_TYPE = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


def test_no_value_can_match_two_branches_of_a_one_of(schema):
    components = schema["components"]["schemas"]
    for branches in one_of_lists(schema):
        kinds = [what_matches(branch, components) for branch in branches]
        for index, (kind, values) in enumerate(kinds):
            for other_kind, other_values in kinds[index + 1 :]:
                if kind == other_kind:
                    assert not values & other_values, branches
                else:
                    enum_values = values if kind == "enum" else other_values
                    types = other_values if kind == "enum" else values
                    assert not {JSON_TYPE[type(v)] for v in enum_values} & types, branches


def test_token_history_is_one_shape_whose_numbered_page_fields_are_optional(schema):
    answer = schema["paths"]["/api/v1/user/tokens/transactions"]["get"]["responses"]["200"]
    page = schema["components"]["schemas"]["HistoryPage"]

    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HistoryPage"
    }
    assert sorted(page["required"]) == ["items", "next_cursor", "per_page"]


def test_request_fields_are_described_as_strictly_as_they_are_checked(schema):
    bundle = schema["components"]["schemas"]["TokenBundleWriteRequest"]["properties"]
    adjust = schema["components"]["schemas"]["AdjustRequestRequest"]["properties"]
    list_parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/v1/admin/token-bundles"]["get"]["parameters"]
    }

    assert bundle["price"]["oneOf"][1]["pattern"] == "^[0-9]{1,10}(\\.[0-9]{1,2})?$"
    assert bundle["is_active"]["oneOf"][1] == {"type": "string", "enum": ["true", "false"]}
    assert bundle["currency_id"]["format"] == "uuid"
    assert "maxLength" not in bundle["description"]
    assert re.search(bundle["description"]["pattern"], " " + "x" * 5000 + " ")
    assert not re.search(bundle["description"]["pattern"], "x" * 5001)
    assert re.search(bundle["description"]["pattern"], "")
    assert adjust["amount"]["not"] == {"enum": [0]}
    assert list_parameters["search"]["maxLength"] == 255
    assert list_parameters["page"]["maximum"] == 2_147_483_647


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("Starter", True),
        ("  padded  ", True),
        ("", False),
        ("   ", False),
        ("\u3000\t", False),
        ("nul\x00", False),
        ("\u200b\u00ad \ufeff", False),
        ("\u200bStarter\u2060", True),
    ],
)
def test_a_trimmed_text_field_s_pattern_refuses_what_trimming_leaves_blank(schema, value, valid):
    name = schema["components"]["schemas"]["TokenBundleWriteRequest"]["properties"]["name"]

    assert bool(re.search(name["pattern"], value)) is valid
    assert bool(trimmed(value) and "\x00" not in value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [("x" * 255, True), ("\u3000 " + "x" * 255 + "\t", True), ("x" * 256, False), ("x", True)],
)
def test_a_trimmed_text_field_s_pattern_counts_its_length_after_trimming(schema, value, valid):
    """As the API does: `name` is 1..255 after trimming (JSON Schema's maxLength would count
    the whitespace around it)."""
    name = schema["components"]["schemas"]["TokenBundleWriteRequest"]["properties"]["name"]

    assert bool(re.search(name["pattern"], value)) is valid
    assert "maxLength" not in name


def test_every_path_parameter_is_in_its_path_template(schema):
    """A path parameter the path does not name is one a generated client must send nowhere."""
    for path, operations in schema["paths"].items():
        named = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in operations.items():
            declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]

            assert sorted(declared) == sorted(named), f"{method} {path}"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("evt_" + "0123456789abcdef" * 2, True),
        ("0123abcd-0123-4567-89ab-0123456789AB", True),
        ("evt_" + "0123456789abcdef" * 2 + "x", False),
        ("x0123abcd-0123-4567-89ab-0123456789ab", False),
        ("evt_0123abcd-0123-4567-89ab-0123456789ab", False),
    ],
)
def test_the_resent_event_s_id_is_described_as_its_route_takes_it(schema, value, valid):
    resend = schema["paths"]["/api/v1/admin/webhook-events/{id}/resend"]["post"]
    (parameter,) = resend["parameters"]

    assert bool(re.search(parameter["schema"]["pattern"], value)) is valid


def test_the_payment_webhook_s_amount_is_described_as_it_is_checked(schema):
    """A JSON number or a string of plain digits with at most 2 places, never negative
    (billing/tests: test_an_amount_that_is_not_plain_money_is_400_and_captures_nothing)."""
    body = schema["components"]["schemas"]["PaymentWebhookRequestRequest"]
    number, text = body["properties"]["amount"]["oneOf"]

    assert (number["type"], number["minimum"], text["type"]) == ("number", 0, "string")
    accepted = [
        value for value in ["34.00", "34", "34.000", "-5"] if re.search(text["pattern"], value)
    ]
    assert accepted == ["34.00", "34"]


def test_times_taken_as_input_are_described_as_they_are_checked(schema):
    """docs/api.md: a date, or a date and time to the minute or finer with an optional offset
    (tokens/tests: the history's filters, a grant's expires_at)."""
    history = schema["paths"]["/api/v1/user/tokens/transactions"]["get"]["parameters"]
    (after,) = [p["schema"] for p in history if p["name"] == "created_after"]
    grant = schema["components"]["schemas"]["GrantRequestRequest"]["properties"]["expires_at"]
    forms = [
        "2026-01-01",
        "2026-01-01T10:00",
        "2026-01-01 10:00:00.5+01:00",
        "2026-01-01T10:00:00Z",
    ]
    refused = ["2026-W01-1", "20260101T100000", "2026-01-01T10", "2026-01-01T10:00:00+0100"]

    for described in (after, grant):
        assert "format" not in described
        accepted = [value for value in forms + refused if re.search(described["pattern"], value)]
        assert accepted == forms


def test_the_payment_webhook_s_event_id_is_described_as_it_is_read(schema):
    """Absent or "" is no id; otherwise taken as sent, untrimmed, 1..255 characters, no NUL
    (billing.services.payment_webhook.notice; test_flow_state_machine delivers "")."""
    body = schema["components"]["schemas"]["PaymentWebhookRequestRequest"]
    event_id = body["properties"]["event_id"]

    assert "minLength" not in event_id
    assert event_id["maxLength"] == 255
    taken = [
        value for value in ["", "evt-1", " evt ", "a\x00b"] if re.search(event_id["pattern"], value)
    ]
    assert taken == ["", "evt-1", " evt "]


def test_a_refunds_unrecovered_tokens_are_described_as_what_they_count(schema):
    """`tokens_unrecovered` counts what a refund could not take back because it was spent or
    had expired, and not what staff voided before (billing.services.fulfilment). Described
    as "Already spent" alone, a reader took an expired lot's tokens for tokens used."""
    described = [
        component["properties"]["tokens_unrecovered"].get("description", "")
        for component in schema["components"]["schemas"].values()
        if "tokens_unrecovered" in component.get("properties", {})
    ]

    assert described
    assert all("expired" in text and "voided" in text for text in described), described
