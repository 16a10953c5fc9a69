"""Server schemas cleaned for the chat request: inlined, loosened with a report, or refused."""

from __future__ import annotations

import pytest

from tools.mcp.schema import SchemaError, clean_schema


def test_refs_are_inlined_and_annotations_dropped() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Args",
        "type": "object",
        "$defs": {"Point": {"title": "Point", "type": "object",
                            "properties": {"x": {"type": "integer", "title": "X"}}}},
        "properties": {"a": {"$ref": "#/$defs/Point", "description": "start"},
                       "tags": {"type": "array", "items": {"$ref": "#/$defs/Point"}}},
        "required": ["a"],
    }
    cleaned = clean_schema(schema)
    assert cleaned.loosened == []
    assert cleaned.parameters == {
        "type": "object", "required": ["a"],
        "properties": {
            "a": {"type": "object", "properties": {"x": {"type": "integer"}},
                  "description": "start"},
            "tags": {"type": "array", "items": {"type": "object",
                                                "properties": {"x": {"type": "integer"}}}},
        },
    }


def test_keywords_the_model_cannot_be_shown_are_reported() -> None:
    cleaned = clean_schema({"type": "object", "properties": {
        "n": {"allOf": [{"type": "integer"}, {"minimum": 1}]},
        "m": {"type": "object", "patternProperties": {"^x": {"type": "string"}}}}})
    assert cleaned.loosened == ["allOf at /properties/n", "patternProperties at /properties/m"]
    assert cleaned.parameters["properties"] == {"n": {}, "m": {"type": "object"}}


def test_missing_schema_and_untyped_object() -> None:
    assert clean_schema(None).parameters == {"type": "object", "properties": {}}
    assert clean_schema({"properties": {}}).parameters["type"] == "object"


@pytest.mark.parametrize(("schema", "says"), [
    ({"type": "string"}, "must be an object"),
    ([1], "not an object schema"),
    ({"type": "object", "$defs": {"N": {"type": "object", "properties": {
        "next": {"$ref": "#/$defs/N"}}}}, "properties": {"n": {"$ref": "#/$defs/N"}}},
     "refers to itself"),
    ({"type": "object", "properties": {"x": {"$ref": "https://example.test/s.json"}}},
     "not a local definition"),
    ({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}}, "names no definition"),
])
def test_schemas_that_cannot_be_expressed(schema, says: str) -> None:
    with pytest.raises(SchemaError, match=says):
        clean_schema(schema)
