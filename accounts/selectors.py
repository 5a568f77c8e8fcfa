"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, User


def memberships_of(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def default_org_slug(user: User, preferred: str | None) -> str | None:
    slugs = list(memberships_of(user).values_list("organization__slug", flat=True))
    if preferred in slugs:
        return preferred
    return slugs[0] if slugs else None
