"""``/api/v1/docs``: the OpenAPI document as a plain server-rendered page.

The usual viewers (Swagger UI, ReDoc) come from a CDN and run inline scripts, which the
Content-Security-Policy forbids; this page needs neither: HTML and one local stylesheet.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

bp = Blueprint(
    "api_docs_page",
    __name__,
    url_prefix="/api/v1",
    template_folder="templates",
    static_folder="static",
    static_url_path="/docs-static",
)

METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _schema_label(schema: dict[str, Any]) -> str:
    """A short type for a parameter or property: ``string``, ``Station[]``, ``online|offline``."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return _schema_label(schema.get("items", {})) + "[]"
    if "allOf" in schema:
        return " & ".join(_schema_label(part) for part in schema["allOf"])
    label = schema.get("type", "object")
    if "format" in schema:
        label += f" ({schema['format']})"
    if "minimum" in schema or "maximum" in schema:
        label += f" {schema.get('minimum', '')}–{schema.get('maximum', '')}"
    if "default" in schema:
        label += f", default {schema['default']}"
    return label


def _responses(operation: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    components = spec.get("components", {}).get("responses", {})
    for code, response in sorted(operation.get("responses", {}).items()):
        if "$ref" in response:
            response = components.get(_ref_name(response["$ref"]), {})
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        rows.append(
            {
                "code": code,
                "description": response.get("description", ""),
                "schema": _schema_label(schema) if schema else "",
            }
        )
    return rows


def describe(spec: dict[str, Any]) -> dict[str, Any]:
    """The document flattened into what the page shows: operations, then schemas."""
    operations = []
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = [
                {
                    "name": p["name"],
                    "in": p["in"],
                    "type": _schema_label(p.get("schema", {})),
                    "required": p.get("required", False),
                    "description": p.get("description", ""),
                }
                for p in [*shared, *operation.get("parameters", [])]
            ]
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "secured": bool(operation.get("security")),
                    "parameters": parameters,
                    "responses": _responses(operation, spec),
                }
            )
    schemas = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        fields = [
            {
                "name": field,
                "type": _schema_label(definition),
                "nullable": definition.get("nullable", False),
                "required": field in required,
                "description": definition.get("description", ""),
            }
            for field, definition in schema.get("properties", {}).items()
        ]
        schemas.append(
            {"name": name, "description": schema.get("description", ""), "fields": fields}
        )
    return {"info": spec.get("info", {}), "operations": operations, "schemas": schemas}


@bp.app_template_filter("inline_code")
def inline_code(text: str) -> Markup:
    """Escape ``text`` and show its `backticked` spans as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))  # noqa: S704


@bp.get("/docs")
def docs() -> str:
    """The API reference, generated from the same document as ``openapi.json``."""
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return render_template("api/docs.html", **describe(api.spec.to_dict()))
