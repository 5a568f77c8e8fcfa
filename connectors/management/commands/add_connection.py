from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.management._context import operator_context
from accounts.management._output import command_error, emit
from connectors.models import Connection
from connectors.selectors import catalogue_counts
from connectors.services import connection_create, headers_from_lines


class Command(BaseCommand):
    help = "Add an MCP server as a connection, discover its catalogue and print what it offers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", required=True, help="Lower-case letters, digits and dashes.")
        parser.add_argument("--url", default="", help="The server's URL (not for stdio).")
        parser.add_argument(
            "--transport", default=Connection.Transport.STREAMABLE_HTTP, choices=Connection.Transport.values
        )
        parser.add_argument("--command", default="", help="For stdio: a command the operator allows by name.")
        parser.add_argument(
            "--header", action="append", default=[], metavar="'Name: value'", help="A static header; repeatable."
        )
        parser.add_argument("--no-sync", action="store_true", help="Save the connection without discovering.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        ctx = operator_context(opts["org"])
        try:
            connection = connection_create(
                ctx=ctx,
                name=opts["name"],
                transport=opts["transport"],
                url=opts["url"],
                command_name=opts["command"],
                headers=headers_from_lines(opts["header"]),
                sync=not opts["no_sync"],
            )
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(
            self,
            {
                "organization": ctx.organization.slug,
                "connection_id": connection.pk,
                "name": connection.name,
                "status": connection.status,
                "protocol_version": connection.protocol_version,
                "header_names": connection.header_names,
                "catalogue": catalogue_counts(connection),
                "last_error": connection.last_error,
            },
            opts["json"],
        )
        if connection.status == Connection.Status.ERROR:
            raise CommandError(
                f"discovery failed: {connection.last_error} (the connection was saved; "
                "sync it once the server is reachable)"
            )
