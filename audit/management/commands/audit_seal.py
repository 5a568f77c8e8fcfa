"""Seals the audit chain now (what Celery beat does every SCOPEGATE_AUDIT_SEAL_SECONDS) and applies retention."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from audit.changes import audit_context
from audit.sealing import retention_enforce, seal_all


class Command(BaseCommand):
    help = "Sign a checkpoint of every audit chain segment that grew, and remove events past retention."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-retention", action="store_true", help="only seal")

    def handle(self, *args, no_retention: bool = False, **options) -> None:
        self.stdout.write(f"sealed {seal_all()} segment(s)")
        if not no_retention:
            with audit_context(via="command"):
                removed = retention_enforce()
            self.stdout.write(f"removed {sum(removed.values())} event(s) past retention")
