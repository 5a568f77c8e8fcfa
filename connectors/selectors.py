"""Reads of the connectors app, always within one organization."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from accounts.onboarding import register_done_check
from accounts.tenancy import OrgContext
from connectors.models import CatalogItem, Connection


def with_counts(queryset: QuerySet[Connection]) -> QuerySet[Connection]:
    """Annotates each connection with how many items of each kind it offers and how many wait for approval."""
    offered = ~Q(items__status=CatalogItem.Status.REMOVED)
    per_kind = {
        f"{kind}_count": Count("items", filter=offered & Q(items__kind=kind)) for kind in CatalogItem.Kind.values
    }
    return queryset.annotate(
        **per_kind,
        item_count=Count("items", filter=offered),
        changed_count=Count("items", filter=Q(items__status=CatalogItem.Status.CHANGED)),
    )


def connections_with_counts(ctx: OrgContext) -> QuerySet[Connection]:
    return with_counts(ctx.scoped(Connection))


@dataclass(frozen=True)
class CatalogueGroup:
    kind: str
    label: str
    items: list[CatalogItem]


def catalogue_of(connection: Connection) -> list[CatalogueGroup]:
    """The connection's catalogue grouped by kind, in the order tools, resources, templates, prompts."""
    items = list(connection.items.order_by("name"))
    return [
        CatalogueGroup(kind=kind, label=label, items=[i for i in items if i.kind == kind])
        for kind, label in CatalogItem.Kind.choices
    ]


def catalogue_counts(connection: Connection) -> dict[str, int]:
    """How many items of each kind the connection offers now (removed ones not counted)."""
    if not hasattr(connection, "tool_count"):
        connection = with_counts(Connection.objects.filter(pk=connection.pk)).get()
    return {kind: getattr(connection, f"{kind}_count") for kind in CatalogItem.Kind.values}


@register_done_check("connect")
def has_connection(ctx: OrgContext) -> bool:
    return ctx.scoped(Connection).exists()
