"""Filtering a tool's listing result down to the resources the agent may touch.

A catalogue entry may declare where its result lists resources:
``{"listing": {"items": "items", "field": "full_name", "resource": "repository"}}`` — ``items`` is a dotted path
into the result's ``structuredContent`` ("" for the object itself), ``field`` the key of each entry naming the
resource. Entries the deciding rule's resource constraints of that kind refuse are removed, from the structured
content and from any text block that carries the same JSON, so the agent never sees a repository it may not use.
"""

from __future__ import annotations

import json
from typing import Any

from policies.compiled import Decision
from policies.constraints import admits


def _at(container: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if not isinstance(container, dict):
            return None
        container = container.get(part)
    return container


def _filter(container: Any, listing: dict, checks) -> bool:
    """Removes refused entries in place; True when something was removed."""
    entries = _at(container, listing.get("items", ""))
    if not isinstance(entries, list):
        return False
    field, kind = listing.get("field", ""), listing.get("resource", "")
    kept = [e for e in entries if isinstance(e, dict) and admits(checks, kind, e.get(field))]
    if len(kept) == len(entries):
        return False
    entries[:] = kept
    return True


def filter_listing(listing: dict | None, decision: Decision, result: Any) -> Any:
    rule = decision.rule
    if not listing or rule is None or not isinstance(result, dict):
        return result
    kind = listing.get("resource", "")
    checks = tuple(c for c in rule.checks if c.resource == kind)
    if not checks:
        return result
    structured = result.get("structuredContent")
    if structured is not None:
        _filter(structured, listing, checks)
    for block in result.get("content") or []:
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            continue
        try:
            parsed = json.loads(block["text"])
        except ValueError:
            continue
        if _filter(parsed, listing, checks):
            block["text"] = json.dumps(parsed, ensure_ascii=False)
    return result
