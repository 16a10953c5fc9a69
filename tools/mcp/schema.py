"""A server's JSON schema, cleaned to what a chat request's tool parameters carry.

Local models read the parameters as text in the prompt and chat templates expect one
self-contained object schema, so: `$ref`s into `$defs`/`definitions` are inlined,
annotations that constrain nothing (`title`, `$schema`, `examples`…) are left out, and
the keywords below are kept. A keyword outside both sets (`allOf`, `not`, `if`,
`patternProperties`…) cannot be shown to the model: it is removed from what the model
sees and *reported* (`CleanSchema.loosened`); the arguments are still checked against
the server's full schema before a call (tools/mcp/tool.py), so nothing is unenforced.
A schema that cannot be expressed at all (not an object, a recursive or external
`$ref`) raises SchemaError and the tool is reported as unavailable, with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEPT = {
    "type", "properties", "required", "items", "enum", "const", "description", "default",
    "anyOf", "oneOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minLength", "maxLength", "pattern", "format", "minItems", "maxItems",
    "uniqueItems", "additionalProperties", "nullable",
}
# Constrain nothing the model must know: left out without a report.
ANNOTATIONS = {
    "title", "$schema", "$id", "$comment", "examples", "$defs", "definitions", "readOnly",
    "writeOnly", "deprecated", "contentMediaType", "contentEncoding",
}
MAX_DEPTH = 32


class SchemaError(ValueError):
    """A schema the chat protocol cannot carry; the message says why."""


@dataclass
class CleanSchema:
    parameters: dict[str, Any]
    loosened: list[str] = field(default_factory=list)  # "allOf at /properties/x", …


def clean_schema(schema: Any) -> CleanSchema:
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise SchemaError(f"the input schema is a {type(schema).__name__}, not an object schema")
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    result = CleanSchema({})
    cleaned = _clean(schema, defs, result.loosened, "", (), 0)
    kind = cleaned.get("type")
    if kind is None and "properties" in cleaned:
        cleaned["type"] = kind = "object"
    if kind != "object":
        raise SchemaError(f"the input schema's type is {kind!r}; tool arguments must be an object")
    cleaned.setdefault("properties", {})
    result.parameters = cleaned
    return result


def _clean(node: Any, defs: dict[str, Any], loosened: list[str], where: str,
           refs: tuple[str, ...], depth: int) -> Any:  # fmt: skip
    if depth > MAX_DEPTH:
        raise SchemaError(f"the schema nests deeper than {MAX_DEPTH} levels at {where or '/'}")
    if isinstance(node, bool):
        return {} if node else {"not": {}}
    if not isinstance(node, dict):
        raise SchemaError(f"{where or '/'} is not a schema")
    if "$ref" in node:
        ref = node["$ref"]
        name = _local_ref(ref, where)
        if name in refs:
            raise SchemaError(f"the schema refers to itself ({ref} at {where or '/'}); "
                              "a recursive schema cannot be inlined")
        if name not in defs:
            raise SchemaError(f"{ref} at {where or '/'} names no definition")
        target = dict(defs[name])
        target.update({k: v for k, v in node.items() if k != "$ref"})  # siblings refine it
        return _clean(target, defs, loosened, where, (*refs, name), depth + 1)
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = f"{where}/{key}"
        if key in ANNOTATIONS:
            continue
        if key not in KEPT:
            loosened.append(f"{key} at {where or '/'}")
            continue
        if key == "properties":
            if not isinstance(value, dict):
                raise SchemaError(f"{here} is not a table of schemas")
            out[key] = {name: _clean(sub, defs, loosened, f"{here}/{name}", refs, depth + 1)
                        for name, sub in value.items()}
        elif key in ("anyOf", "oneOf"):
            if not isinstance(value, list):
                raise SchemaError(f"{here} is not a list of schemas")
            out[key] = [_clean(sub, defs, loosened, f"{here}/{i}", refs, depth + 1)
                        for i, sub in enumerate(value)]
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _clean(value, defs, loosened, here, refs, depth + 1)
        else:
            out[key] = value
    return out


def _local_ref(ref: Any, where: str) -> str:
    for prefix in ("#/$defs/", "#/definitions/"):
        if isinstance(ref, str) and ref.startswith(prefix) and "/" not in ref[len(prefix):]:
            return ref[len(prefix):]
    raise SchemaError(f"$ref {ref!r} at {where or '/'} is not a local definition "
                      "(#/$defs/NAME); it cannot be inlined")
