"""Which arguments of a tool name resources, and where its result lists them: the declaration the matrix's
resource editors and the listing filter read (``CatalogItem.resources``). Built-in tools declare it themselves;
for an upstream MCP tool an admin declares it here."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.roles import Perm
from accounts.tenancy import OrgContext
from audit.changes import record_change
from connectors.models import CatalogItem
from policies.models import Agent

KIND = re.compile(r"^[a-z][a-z_]{0,31}$")
NAME = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
PATH = re.compile(r"^([A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,4})?$")


def clean_resources(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict) or set(raw) - {"arguments", "listing"}:
        raise ValidationError({"resources": ['Give {"arguments": {...}, "listing": {...}} (both optional).']})
    out: dict[str, Any] = {}
    arguments = raw.get("arguments") or {}
    if not isinstance(arguments, dict) or len(arguments) > 50:
        raise ValidationError({"resources": ["arguments maps at most 50 argument names to resource kinds."]})
    for name, kind in arguments.items():
        if not NAME.match(name) or not isinstance(kind, str) or not KIND.match(kind):
            raise ValidationError({"resources": [f"arguments: {str(name)[:64]!r} -> a kind such as repository."]})
    if arguments:
        out["arguments"] = dict(arguments)
    listing = raw.get("listing")
    if listing:
        if not isinstance(listing, dict) or set(listing) != {"items", "field", "resource"}:
            raise ValidationError({"resources": ["listing has items (a dotted path), field and resource."]})
        items, field, kind = listing["items"], listing["field"], listing["resource"]
        if not (isinstance(items, str) and PATH.match(items)) or not (isinstance(field, str) and NAME.match(field)):
            raise ValidationError({"resources": ["listing: items is a dotted path, field a key of each entry."]})
        if not isinstance(kind, str) or not KIND.match(kind):
            raise ValidationError({"resources": ["listing: resource is a kind such as repository."]})
        out["listing"] = {"items": items, "field": field, "resource": kind}
    return out


@transaction.atomic
def catalog_resources_set(*, ctx: OrgContext, item_id: int, resources: Any) -> CatalogItem:
    ctx.require(Perm.GOVERN)
    item = ctx.get(CatalogItem.objects.select_for_update(of=("self",)).select_related("connection"), pk=item_id)
    if item.kind != CatalogItem.Kind.TOOL:
        raise ValidationError({"resources": ["Only tools declare resource arguments."]})
    before = dict(item.resources or {})
    item.resources = clean_resources(resources)
    item.save(update_fields=["resources"])
    record_change(
        ctx,
        action="catalog.resources_set",
        target=item,
        target_type="catalog_item",
        target_repr=f"{item.connection.name}__{item.name}",
        before=before,
        after=item.resources,
    )
    from policies.invalidation import announce_agents_changed

    public_ids = list(ctx.scoped(Agent).values_list("public_id", flat=True))
    transaction.on_commit(lambda: announce_agents_changed(public_ids))
    return item
