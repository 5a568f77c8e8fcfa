from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.management._output import command_error, emit
from accounts.models import Organization
from accounts.roles import TOKEN_ROLES, Role
from accounts.services import api_token_issue
from accounts.tenancy import OrgContext


class Command(BaseCommand):
    help = "Issue an API token for an organization and print it (this is the only time it is shown)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--org", required=True, help="The organization's slug.")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--role", default=Role.ADMIN, choices=[r.value for r in TOKEN_ROLES])
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        org = Organization.objects.filter(slug=opts["org"]).first()
        if org is None:
            raise CommandError(f"no organization with the slug {opts['org']!r}")
        # The operator acts with the owner's authority, as the one who runs the installation.
        ctx = OrgContext(organization=org, role=Role.OWNER, user=None)
        expires_at = None
        if opts["expires_in_days"] is not None:
            if opts["expires_in_days"] < 1:
                raise CommandError("--expires-in-days must be at least 1")
            expires_at = timezone.now() + timedelta(days=opts["expires_in_days"])
        try:
            token, secret = api_token_issue(ctx=ctx, name=opts["name"], role=opts["role"], expires_at=expires_at)
        except ValidationError as exc:
            raise command_error(exc) from exc
        emit(
            self,
            {
                "organization": org.slug,
                "token_id": token.pk,
                "role": token.role,
                "api": f"{settings.PUBLIC_URL}/api/v1/orgs/{org.slug}/",
                "token": secret,
            },
            opts["json"],
        )
