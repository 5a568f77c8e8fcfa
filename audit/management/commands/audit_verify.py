"""Verifies the audit chain of one organization or all; exits 1 at the first broken link."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from audit.verify import organizations_with_events, verify_organization


class Command(BaseCommand):
    help = "Check the audit trail's hash chain and signed checkpoints; report the first broken link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", help="the organization's slug (default: every organization)")
        parser.add_argument("--json", action="store_true", help="print one JSON object per organization")

    def handle(self, *args, org: str | None = None, json: bool = False, **options) -> None:
        if org:
            found = Organization.objects.filter(slug=org).values_list("id", flat=True).first()
            if found is None:
                raise CommandError(f"No organization with slug {org!r}.")
            targets = [found]
        else:
            targets = organizations_with_events()
        broken = 0
        for org_id in targets:
            report = verify_organization(org_id)
            broken += not report.ok
            self._print(report, as_json=json)
        if broken:
            raise CommandError(f"{broken} organization(s) have a broken audit chain.", returncode=1)

    def _print(self, report, *, as_json: bool) -> None:
        if as_json:
            data = {
                "organization_id": report.organization_id,
                "ok": report.ok,
                "checked": report.checked,
                "segments": report.segments,
                "first_break": report.first_break,
            }
            self.stdout.write(json.dumps(data))
            return
        label = f"organization {report.organization_id}"
        if report.ok:
            self.stdout.write(f"{label}: OK, {report.checked} events in {report.segments} segment(s)")
        else:
            brk = report.first_break
            self.stdout.write(f"{label}: BROKEN at segment {brk['segment']} seq {brk['seq']}: {brk['reason']}")
