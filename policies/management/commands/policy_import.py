import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._output import command_error, emit
from policies.documents import parse_document, policy_import
from policies.management._agent import operator_agent

MAX_BYTES = 1_000_000


class Command(BaseCommand):
    help = (
        "Replace an agent's rules with a policy document (YAML or JSON, as policy_export prints it), from FILE or "
        "standard input (-). All or nothing: a bad rule changes nothing and names the rule."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument("file", help="The document's path, or - for standard input.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx, agent = operator_agent(opts["org"], opts["agent"])
        text = _read(opts["file"])
        try:
            rules = policy_import(ctx=ctx, agent_id=agent.pk, document=parse_document(text))
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(self, {"organization": ctx.organization.slug, "agent": agent.name, "rules": len(rules)}, opts["json"])


def _read(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.read(MAX_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if len(text) > MAX_BYTES:
        raise CommandError(f"{path} is larger than {MAX_BYTES} bytes")
    return text
