from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._output import command_error, emit
from accounts.models import User
from accounts.services import organization_create


class Command(BaseCommand):
    help = "Create an organization owned by an existing user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="E-mail address of the owner.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        owner = User.objects.filter(email__iexact=opts["owner"].strip()).first()
        if owner is None:
            raise CommandError(f"no user with the e-mail address {opts['owner']!r}")
        try:
            org = organization_create(name=opts["name"], owner=owner)
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(self, {"organization": org.slug, "name": org.name, "owner": owner.email}, opts["json"])
