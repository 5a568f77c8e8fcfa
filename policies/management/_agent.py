from django.core.management.base import CommandError

from accounts.management._context import operator_context
from accounts.tenancy import OrgContext
from policies.models import Agent


def operator_agent(slug: str, name: str) -> tuple[OrgContext, Agent]:
    """The operator's context in the organization ``slug`` and its agent called ``name``."""
    ctx = operator_context(slug)
    agent = ctx.scoped(Agent).filter(name=name).first()
    if agent is None:
        raise CommandError(f"no agent named {name!r} in {ctx.organization.slug}")
    return ctx, agent
