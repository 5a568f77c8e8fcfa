from django.core.management.base import BaseCommand, CommandError

from accounts.management._output import emit
from audit.changes import audit_context
from connectors.rotation import vault_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (MCP headers, OAuth tokens) under the first key of "
        "SCOPEGATE_ENCRYPTION_KEYS. Run it after putting a new key first; remove the old key afterwards."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        with audit_context(via="command"):
            rotation = vault_rotate(batch_size=opts["batch_size"])
        emit(
            self,
            {
                "key": rotation.key_id,
                "rotated": rotation.total,
                "already_current": rotation.current,
                "unreadable": len(rotation.unreadable),
            },
            opts["json"],
        )
        if rotation.unreadable:
            raise CommandError(
                "no key of the ring decrypts: " + ", ".join(rotation.unreadable[:20]) + " (restore the missing key)"
            )
