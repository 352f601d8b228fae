"""The OpenAPI 3.1 document, generated from the routes and the models that validate them."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.schemas import Problem
from api.server.limits import Limits
from webhooks import __version__
from webhooks.ids import id_pattern

View = TypeVar("View", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
ERROR_TITLES = {
    400: "Malformed JSON, or malformed HTTP framing",
    401: "Missing or wrong API key",
    403: "The key is bound to a tenant",
    404: "No such object",
    408: f"The request was not received whole within {Limits.request_seconds:g} s (the server)",
    409: "Conflict",
    413: "Body over the limit (WEBHOOKS_MAX_PAYLOAD_BYTES)",
    414: f"Request line (method and URI) over {Limits.request_line} bytes (the server)",
    422: "Invalid input",
    431: f"Request headers over {Limits.header} bytes (the server)",
    503: "Database or broker unavailable",
}
# What the web server itself refuses, before any route runs, whatever the operation.
SERVER_REFUSALS = (408, 414, 431)


@dataclass(frozen=True)
class Operation:
    """What the document says about one route."""

    summary: str
    response: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    public: bool = False
    # Request headers: name -> (description, schema).
    headers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    media_type: str = "application/json"
    # Other success statuses with the same body: status -> when.
    also: dict[int, str] = field(default_factory=dict)


def documented(
    summary: str, response: type[BaseModel] | None, **details: Any
) -> Callable[[View], View]:
    """Attach an Operation to a view function."""

    def attach(view: View) -> View:
        view.openapi = Operation(summary, response, **details)  # type: ignore[attr-defined]
        return view

    return attach


def build_document(app: Flask) -> dict[str, Any]:
    """Walk the app's routes and build the document."""
    operations = []
    for rule in app.url_map.iter_rules():
        operation = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if operation is not None:
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                operations.append((rule.rule, method.lower(), operation, rule.endpoint))
    # Request bodies are documented as they validate, responses as they serialise.
    modes: dict[type[BaseModel], JsonSchemaMode] = {Problem: "serialization"}
    for _, _, op, _ in operations:
        if op.response is not None:
            modes[op.response] = "serialization"
        if op.body is not None:
            modes[op.body] = "validation"
    ordered = sorted(modes.items(), key=lambda item: item[0].__name__)
    refs, schemas = models_json_schema(ordered, ref_template=REF)
    ref_of = {model: refs[(model, mode)] for model, mode in ordered}
    paths: dict[str, dict[str, Any]] = {}
    for route, method, op, endpoint in sorted(operations, key=lambda item: item[:2]):
        path, parameters = _path(route)
        document = _operation(parameters, op, ref_of)
        paths.setdefault(path, {})[method] = {**_names(endpoint), **document}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webhooks",
            "version": __version__,
            "description": "Send events; they are signed (Standard Webhooks), delivered to "
            "every subscribed endpoint, retried, and every attempt is audited. The web server "
            "refuses some requests before any route runs (408, 413, 414, 431), with the same "
            "problem documents as the API's own errors.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _names(endpoint: str) -> dict[str, Any]:
    """operationId and tag from the view's name: `v1.endpoints.list_` -> endpoints_list."""
    *_, blueprint, function = endpoint.split(".")
    tag = blueprint.replace("-", "_")
    return {"operationId": f"{tag}_{function.strip('_')}", "tags": [blueprint]}


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn `/v1/endpoints/<id(ep):endpoint_id>` into an OpenAPI path and its parameters."""
    parameters = []
    for converter, prefix, name in re.findall(r"<(?:([a-z]+)(?:\(([a-z]+)\))?:)?([a-z_]+)>", rule):
        schema: dict[str, Any] = {"type": "string"}
        if converter == "id":
            schema["pattern"] = f"^{id_pattern(prefix)}$"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", r"{\1}", rule), parameters


def _operation(
    path_parameters: list[dict[str, Any]],
    op: Operation,
    ref_of: dict[type[BaseModel], dict[str, Any]],
) -> dict[str, Any]:
    content = "application/json"
    document: dict[str, Any] = {
        "summary": op.summary,
        "parameters": list(path_parameters),
        "responses": {},
    }
    if op.query is not None:
        properties = op.query.model_json_schema()["properties"]
        for name, info in op.query.model_fields.items():
            schema = properties[name]
            parameter = {"name": name, "in": "query", "required": False, "schema": schema}
            if info.description:
                parameter["description"] = info.description
            document["parameters"].append(parameter)
    for name, (description, schema) in op.headers.items():
        document["parameters"].append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": schema,
            }
        )
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {content: {"schema": ref_of[op.body]}},
        }
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = {content: {"schema": ref_of[op.response]}}
    elif op.media_type != content:
        success["content"] = {op.media_type: {"schema": {"type": "string"}}}
    document["responses"][str(op.status)] = success
    for status, when in op.also.items():
        document["responses"][str(status)] = {**success, "description": when}
    errors = set(op.errors) | set(SERVER_REFUSALS)
    if not op.public:
        errors |= {401, 503}
    if op.body is not None:
        errors.update({400, 413, 422})
    if op.query is not None:
        errors.add(422)
    for status in sorted(errors):
        document["responses"][str(status)] = {
            "description": ERROR_TITLES[status],
            "content": {"application/problem+json": {"schema": ref_of[Problem]}},
        }
    if op.public:
        document["security"] = []
    return document
