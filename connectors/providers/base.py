"""What every built-in provider is made of: its OAuth settings, its tools, and the errors its API answers.

A provider is a small package (``connectors/providers/<kind>/``); the registry in ``__init__`` maps a
connection's kind to it, so that adding one touches one folder.

A tool declares which of its arguments name a resource, and where a listing result holds resources, so that
the permission matrix can constrain them (``CatalogItem.resources``)::

    {"arguments": {"repository": "repository", "labels": "label"},
     "listing": {"items": "repositories", "field": "full_name", "resource": "repository"}}

An argument maps to one resource kind (``RESOURCE_KINDS``); its value is a string, or an array of strings each
naming one resource. ``listing.items`` is a dotted path into the tool's ``structuredContent`` to an array of
objects; ``listing.field`` names the field of each object that identifies the resource.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

RESOURCE_KINDS = frozenset({"repository", "folder", "label", "calendar", "recipient", "file"})


class ToolError(Exception):
    """A failure the agent should read as the tool's answer (``isError``): a 404, a rate limit, a 422."""


class TokenRejected(Exception):
    """The provider refused the access token (401): refresh once, then give up."""


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    input_schema: dict
    output_schema: dict
    run: Callable[[Any, dict], Awaitable[dict]]  # (api client, arguments) -> structured content
    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    # The tool is offered when any one of these scopes was granted (empty: any grant will do).
    scopes: frozenset[str] = frozenset()
    resources: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds = set(self.resources.get("arguments", {}).values())
        listing = self.resources.get("listing")
        if listing:
            kinds.add(listing["resource"])
        if not kinds <= RESOURCE_KINDS:
            raise ValueError(f"{self.name} declares unknown resource kinds: {sorted(kinds - RESOURCE_KINDS)}")
        unknown = set(self.resources.get("arguments", {})) - set(self.input_schema.get("properties", {}))
        if unknown:
            raise ValueError(f"{self.name} declares resources on arguments it does not take: {sorted(unknown)}")

    def definition(self) -> dict:
        """The tool as agents see it in tools/list (the resource declaration stays ours)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": True,
            },
        }


@dataclass(frozen=True)
class Identity:
    account_id: str
    login: str
    email: str


# --- JSON schema helpers: tools declare precise schemas without repeating the boilerplate -------------------


def obj(required: list[str] | None = None, **properties: dict) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def string(description: str, **extra: Any) -> dict:
    return {"type": "string", "description": description, **extra}


def integer(description: str, minimum: int = 1, maximum: int | None = None, default: int | None = None) -> dict:
    schema: dict[str, Any] = {"type": "integer", "description": description, "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        schema["default"] = default
    return schema


def array(items: dict, description: str, max_items: int = 50) -> dict:
    return {"type": "array", "items": items, "description": description, "maxItems": max_items}


def enum(description: str, values: list[str], default: str | None = None) -> dict:
    schema: dict[str, Any] = {"type": "string", "enum": values, "description": description}
    if default is not None:
        schema["default"] = default
    return schema


def nullable(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


def out(**properties: dict) -> dict:
    """An output schema: every listed property is present in the result."""
    return {"type": "object", "properties": properties, "required": sorted(properties)}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NSTR = {"type": ["string", "null"]}
NINT = {"type": ["integer", "null"]}
