import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._output import command_error, emit
from accounts.selectors import memberships_of
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user with a verified e-mail address and a personal organization."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        group.add_argument("--password-env", metavar="VAR", help="Read the password from this variable.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        password = None
        if opts["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        elif opts["password_env"]:
            password = os.environ.get(opts["password_env"])
            if not password:
                raise CommandError(f"{opts['password_env']} is not set")
        try:
            user = user_create(email=opts["email"], password=password)
        except ValidationError as exc:
            raise command_error(exc) from exc
        org = memberships_of(user).first().organization
        emit(self, {"user": user.email, "organization": org.slug, "can_log_in": bool(password)}, opts["json"])
