import json

from django.core.management.base import BaseCommand

from policies.documents import policy_export, policy_yaml
from policies.management._agent import operator_agent


class Command(BaseCommand):
    help = "Print an agent's policy as YAML (or JSON with --json), the document policy_import and the API take."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--agent", required=True, help="The agent's name.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx, agent = operator_agent(opts["org"], opts["agent"])
        document = policy_export(ctx, agent)
        self.stdout.write(json.dumps(document, indent=2) if opts["json"] else policy_yaml(document), ending="")
