from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management._output import command_error, emit
from policies.management._agent import operator_agent
from policies.selectors import endpoint_url, secret_url
from policies.services import agent_key_issue


class Command(BaseCommand):
    help = "Issue a key for an agent and print it with the endpoint (this is the only time the key is shown)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument("--name", default="cli", help="The key's name.")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx, agent = operator_agent(opts["org"], opts["agent"])
        expires_at = None
        if opts["expires_in_days"] is not None:
            if opts["expires_in_days"] < 1:
                raise CommandError("--expires-in-days must be at least 1")
            expires_at = timezone.now() + timedelta(days=opts["expires_in_days"])
        try:
            key, secret = agent_key_issue(ctx=ctx, agent_id=agent.pk, name=opts["name"], expires_at=expires_at)
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(
            self,
            {
                "organization": ctx.organization.slug,
                "agent": agent.name,
                "key_id": key.pk,
                "prefix": key.prefix,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                "endpoint": endpoint_url(agent),
                "key": secret,
                "secret_url": secret_url(agent, secret),
            },
            opts["json"],
        )
