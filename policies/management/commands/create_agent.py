from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._context import operator_context
from accounts.management._output import command_error, emit
from connectors.models import Connection
from policies.selectors import endpoint_url
from policies.services import agent_create


class Command(BaseCommand):
    help = "Create an agent and print its MCP endpoint. Issue it a key with issue_agent_key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument("--mount", metavar="CONNECTION_NAME", help="Show this connection's tools unprefixed.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx = operator_context(opts["org"])
        mount_id = None
        if opts["mount"]:
            mount = ctx.scoped(Connection).filter(name=opts["mount"]).first()
            if mount is None:
                raise CommandError(f"no connection named {opts['mount']!r} in {ctx.organization.slug}")
            mount_id = mount.pk
        try:
            agent = agent_create(ctx=ctx, name=opts["name"], description=opts["description"], mount_id=mount_id)
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(
            self,
            {
                "organization": ctx.organization.slug,
                "agent_id": agent.pk,
                "name": agent.name,
                "public_id": agent.public_id,
                "mount": opts["mount"] or None,
                "endpoint": endpoint_url(agent),
            },
            opts["json"],
        )
