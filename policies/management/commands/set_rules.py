from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._output import command_error, emit
from accounts.tenancy import OrgContext
from connectors.models import Connection
from policies.management._agent import operator_agent
from policies.models import Rule
from policies.services import agent_rules_set


class Command(BaseCommand):
    help = (
        "Set an agent's whole policy: --allow and --deny CONNECTION (everything of it) or CONNECTION:tool, "
        "each repeatable. Replaces every rule the agent had."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument("--allow", action="append", default=[], metavar="CONNECTION[:tool]")
        parser.add_argument("--deny", action="append", default=[], metavar="CONNECTION[:tool]")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx, agent = operator_agent(opts["org"], opts["agent"])
        allow = [_pair(ctx, spec) for spec in opts["allow"]]
        deny = [_pair(ctx, spec) for spec in opts["deny"]]
        try:
            agent_rules_set(ctx=ctx, agent_id=agent.pk, allow=allow, deny=deny)
        except ValidationError as exc:
            raise command_error(exc) from exc
        rules = ctx.scoped(Rule).filter(agent=agent).select_related("connection")
        emit(
            self,
            {
                "organization": ctx.organization.slug,
                "agent": agent.name,
                "allow": [_spec(r) for r in rules if r.effect == Rule.Effect.ALLOW],
                "deny": [_spec(r) for r in rules if r.effect == Rule.Effect.DENY],
            },
            opts["json"],
        )


def _pair(ctx: OrgContext, spec: str) -> tuple[int, str]:
    name, _, tool = spec.partition(":")
    connection = ctx.scoped(Connection).filter(name=name.strip()).first()
    if connection is None:
        raise CommandError(f"no connection named {name!r} in {ctx.organization.slug}")
    return connection.pk, tool.strip()


def _spec(rule: Rule) -> str:
    if rule.target == Rule.Target.ALL:
        return rule.connection.name
    return f"{rule.connection.name}:{rule.name}" if rule.name else f"{rule.connection.name}:*{rule.target}"
