"""The base of every organization-scoped API view.

It owns ``get_queryset`` and ``get_object`` and refuses subclasses that override them: a subclass names its
model (or a base queryset through ``base_queryset``) and the permissions it needs, and can never forget the
organization filter.
"""

from __future__ import annotations

from typing import ClassVar

from django.db.models import QuerySet
from rest_framework import generics

from accounts.models import ApiToken
from accounts.roles import Perm
from accounts.tenancy import OrgContext, resolve_org_context

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class OrgScopedAPIView(generics.GenericAPIView):
    model: ClassVar[type | None] = None
    read_perm: ClassVar[Perm] = Perm.VIEW
    write_perm: ClassVar[Perm] = Perm.GOVERN
    lookup_url_kwarg = "pk"
    ctx: OrgContext

    _sealed = ("get_queryset", "get_object", "initial")

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._sealed:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} may not override {name}(): use base_queryset() instead")

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        self.ctx = resolve_org_context(user=request.user, token=token, slug=kwargs["org_slug"])
        self.ctx.require(self.read_perm if request.method in SAFE_METHODS else self.write_perm)

    def base_queryset(self) -> QuerySet:
        assert self.model is not None, f"{type(self).__name__} names no model"
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet:
        return self.ctx.scoped(self.base_queryset())

    def get_object(self):
        obj = self.ctx.get(self.get_queryset(), pk=self.kwargs[self.lookup_url_kwarg])
        self.check_object_permissions(self.request, obj)
        return obj
