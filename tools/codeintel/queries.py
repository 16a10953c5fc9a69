"""Tag queries per language: what counts as a definition and what as a reference.

Definition patterns capture the whole node as `@def.KIND` and its name as `@name`.
Whether a function is a method is decided later from nesting (a function inside a
class-like definition), so patterns only say "function". Reference patterns capture
`@ref` on identifiers used as calls, attributes, base types and type names: the edges
of the repository map.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TagQueries:
    definitions: str
    references: str


PYTHON = TagQueries(
    definitions="""
(class_definition name: (identifier) @name) @def.class
(function_definition name: (identifier) @name) @def.function
""",
    references="""
(call function: (identifier) @ref)
(call function: (attribute attribute: (identifier) @ref))
(argument_list (identifier) @ref)
(argument_list (attribute attribute: (identifier) @ref))
(decorator (identifier) @ref)
(type (identifier) @ref)
(import_from_statement name: (dotted_name (identifier) @ref))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @ref)))
""",
)

_JS_DEFINITIONS = """
(class_declaration name: (_) @name) @def.class
(class name: (_) @name) @def.class
(function_declaration name: (identifier) @name) @def.function
(generator_function_declaration name: (identifier) @name) @def.function
(method_definition name: (_) @name) @def.method
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression)]) @def.function
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression)]) @def.function
"""

_JS_REFERENCES = """
(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(class_heritage (identifier) @ref)
(import_specifier name: (identifier) @ref)
"""

JAVASCRIPT = TagQueries(
    definitions=_JS_DEFINITIONS,
    references=_JS_REFERENCES + "(jsx_opening_element name: (identifier) @ref)\n"
    "(jsx_self_closing_element name: (identifier) @ref)\n",
)

_TS_DEFINITIONS = _JS_DEFINITIONS.replace(
    "(class_declaration name: (_) @name) @def.class",
    "(class_declaration name: (_) @name) @def.class\n"
    "(abstract_class_declaration name: (_) @name) @def.class",
) + """
(interface_declaration name: (_) @name) @def.interface
(type_alias_declaration name: (_) @name) @def.type
(enum_declaration name: (_) @name) @def.enum
(abstract_method_signature name: (_) @name) @def.method
(method_signature name: (_) @name) @def.method
(internal_module name: (_) @name) @def.module
"""

_TS_REFERENCES = """
(call_expression function: (identifier) @ref)
(call_expression function: (member_expression property: (property_identifier) @ref))
(new_expression constructor: (identifier) @ref)
(extends_clause value: (identifier) @ref)
(implements_clause (type_identifier) @ref)
(extends_type_clause (type_identifier) @ref)
(type_annotation (type_identifier) @ref)
(generic_type name: (type_identifier) @ref)
(import_specifier name: (identifier) @ref)
"""

TYPESCRIPT = TagQueries(definitions=_TS_DEFINITIONS, references=_TS_REFERENCES)
TSX = TagQueries(
    definitions=_TS_DEFINITIONS,
    references=_TS_REFERENCES + "(jsx_opening_element name: (identifier) @ref)\n"
    "(jsx_self_closing_element name: (identifier) @ref)\n",
)

GO = TagQueries(
    definitions="""
(function_declaration name: (identifier) @name) @def.function
(method_declaration name: (field_identifier) @name) @def.method
(type_spec name: (type_identifier) @name type: (struct_type)) @def.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @def.interface
(type_spec name: (type_identifier) @name type: [
  (type_identifier) (qualified_type) (pointer_type) (slice_type) (map_type)
  (array_type) (function_type) (channel_type) (generic_type)]) @def.type
""",
    references="""
(call_expression function: (identifier) @ref)
(call_expression function: (selector_expression field: (field_identifier) @ref))
(type_identifier) @ref
(composite_literal type: (qualified_type name: (type_identifier) @ref))
""",
)

RUST = TagQueries(
    definitions="""
(struct_item name: (type_identifier) @name) @def.struct
(enum_item name: (type_identifier) @name) @def.enum
(union_item name: (type_identifier) @name) @def.struct
(type_item name: (type_identifier) @name) @def.type
(trait_item name: (type_identifier) @name) @def.trait
(impl_item type: (_) @name) @def.impl
(function_item name: (identifier) @name) @def.function
(function_signature_item name: (identifier) @name) @def.function
(mod_item name: (identifier) @name body: (_)) @def.module
(macro_definition name: (identifier) @name) @def.macro
""",
    references="""
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(call_expression function: (scoped_identifier name: (identifier) @ref))
(macro_invocation macro: (identifier) @ref)
(type_identifier) @ref
""",
)

JAVA = TagQueries(
    definitions="""
(class_declaration name: (identifier) @name) @def.class
(interface_declaration name: (identifier) @name) @def.interface
(enum_declaration name: (identifier) @name) @def.enum
(record_declaration name: (identifier) @name) @def.class
(annotation_type_declaration name: (identifier) @name) @def.interface
(method_declaration name: (identifier) @name) @def.method
(constructor_declaration name: (identifier) @name) @def.method
""",
    references="""
(method_invocation name: (identifier) @ref)
(object_creation_expression type: (type_identifier) @ref)
(type_identifier) @ref
""",
)

_C_DEFINITIONS = """
(function_definition declarator: (function_declarator declarator: (_) @name)) @def.function
(function_definition declarator: (pointer_declarator
  declarator: (function_declarator declarator: (_) @name))) @def.function
(translation_unit (declaration declarator: (function_declarator
  declarator: (identifier) @name)) @def.function)
(struct_specifier name: (type_identifier) @name body: (_)) @def.struct
(union_specifier name: (type_identifier) @name body: (_)) @def.struct
(enum_specifier name: (type_identifier) @name body: (_)) @def.enum
(type_definition declarator: (type_identifier) @name) @def.type
(preproc_function_def name: (identifier) @name) @def.macro
"""

_C_REFERENCES = """
(call_expression function: (identifier) @ref)
(call_expression function: (field_expression field: (field_identifier) @ref))
(type_identifier) @ref
"""

C = TagQueries(definitions=_C_DEFINITIONS, references=_C_REFERENCES)

CPP = TagQueries(
    definitions=_C_DEFINITIONS
    + """
(function_definition declarator: (reference_declarator
  (function_declarator declarator: (_) @name))) @def.function
(class_specifier name: (_) @name body: (_)) @def.class
(namespace_definition name: (_) @name) @def.module
(field_declaration_list (field_declaration declarator: (function_declarator
  declarator: (_) @name)) @def.method)
(field_declaration_list (declaration declarator: (function_declarator
  declarator: (_) @name)) @def.method)
""",
    references=_C_REFERENCES
    + """
(call_expression function: (qualified_identifier name: (identifier) @ref))
(call_expression function: (template_function name: (identifier) @ref))
""",
)

QUERIES: dict[str, TagQueries] = {
    "python": PYTHON,
    "javascript": JAVASCRIPT,
    "typescript": TYPESCRIPT,
    "tsx": TSX,
    "go": GO,
    "rust": RUST,
    "java": JAVA,
    "c": C,
    "cpp": CPP,
}
