"""The one way to reach tenant data: resolve an organization for a principal, then scope every query to it.

Page views use :func:`org_view`; API views inherit ``accounts.api.base.OrgScopedAPIView``; both resolve an
:class:`OrgContext` through :func:`resolve_org_context`, which answers 404 to anyone outside the organization,
so that an outsider cannot even learn that it exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from accounts.models import ApiToken, Membership, Organization, OrganizationOwned, User
from accounts.roles import Perm, role_can

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class OrgContext:
    organization: Organization
    role: str
    user: User | None  # the person acting, None for an API token
    token: ApiToken | None = None

    def can(self, perm: Perm) -> bool:
        return role_can(self.role, perm)

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise PermissionDenied(f"Your role ({self.role}) may not do this here.")

    def scoped(self, source: type[M] | QuerySet[M]) -> QuerySet[M]:
        """Every tenant query starts here."""
        queryset = source if isinstance(source, QuerySet) else source._default_manager.all()
        if not issubclass(queryset.model, OrganizationOwned):
            raise TypeError(f"{queryset.model.__name__} is not owned by an organization")
        return queryset.filter(organization=self.organization)

    def get(self, source: type[M] | QuerySet[M], **lookup: Any) -> M:
        """One object of this organization, or 404."""
        queryset = self.scoped(source)
        try:
            return queryset.get(**lookup)
        except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
            raise Http404 from exc

    @property
    def actor_label(self) -> str:
        if self.token is not None:
            return f"token {self.token.prefix}"
        return self.user.email if self.user else "system"


def resolve_org_context(*, user: Any, token: ApiToken | None, slug: str) -> OrgContext:
    if token is not None:
        if token.organization.slug != slug:
            raise Http404
        return OrgContext(organization=token.organization, role=token.role, user=None, token=token)
    if not getattr(user, "is_authenticated", False):
        raise Http404
    membership = Membership.objects.select_related("organization").filter(user=user, organization__slug=slug).first()
    if membership is None:
        raise Http404
    return OrgContext(organization=membership.organization, role=membership.role, user=user)


def org_view(perm: Perm = Perm.VIEW) -> Callable:
    """Decorates a page view ``view(request, ctx, ...)`` taking ``org_slug`` from the URL.

    Outsiders and anonymous people get 404 (anonymous ones are sent to log in first); members
    without ``perm`` get 403.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, org_slug: str, *args: Any, **kwargs: Any):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            ctx = resolve_org_context(user=request.user, token=None, slug=org_slug)
            ctx.require(perm)
            if request.session.get("last_org") != ctx.organization.slug:
                request.session["last_org"] = ctx.organization.slug
            request.org_ctx = ctx  # type: ignore[attr-defined]
            return view(request, ctx, *args, **kwargs)

        return wrapper

    return decorator
