"""The home page's checklist: what a new organization does first, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from accounts.tenancy import OrgContext


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    help: str
    url: str
    done: bool


# Apps register how to tell that a step is done (connectors: a connection exists; policies: an agent
# exists, its URL was copied; audit: a first call was recorded). A step nobody can answer yet is not done.
DONE_CHECKS: dict[str, Callable[[OrgContext], bool]] = {}


def register_done_check(key: str) -> Callable:
    def decorator(fn: Callable[[OrgContext], bool]) -> Callable[[OrgContext], bool]:
        DONE_CHECKS[key] = fn
        return fn

    return decorator


def onboarding_steps(ctx: OrgContext) -> list[Step]:
    slug = ctx.organization.slug
    spec = [
        (
            "connect",
            "Connect a service",
            "Connect GitHub or Google, or add any remote MCP server.",
            reverse("connections", args=[slug]),
        ),
        (
            "agent",
            "Create an agent",
            "An agent is one AI client with its own permission matrix.",
            reverse("agents", args=[slug]),
        ),
        (
            "copy_url",
            "Copy its URL",
            "Paste the agent's MCP endpoint into Claude, Cursor or your SDK client.",
            reverse("agents", args=[slug]),
        ),
        (
            "first_call",
            "Make a first call",
            "Every call appears live in Activity with its decision.",
            reverse("activity", args=[slug]),
        ),
    ]
    return [
        Step(key=key, title=title, help=help_text, url=url, done=bool(DONE_CHECKS.get(key, _not_yet)(ctx)))
        for key, title, help_text, url in spec
    ]


def _not_yet(ctx: OrgContext) -> bool:
    return False
