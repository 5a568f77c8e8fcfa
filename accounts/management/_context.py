from django.core.management.base import CommandError

from accounts.models import Organization
from accounts.roles import Role
from accounts.tenancy import OrgContext


def operator_context(slug: str) -> OrgContext:
    """The operator acts with the owner's authority, as the one who runs the installation."""
    org = Organization.objects.filter(slug=slug).first()
    if org is None:
        raise CommandError(f"no organization with the slug {slug!r}")
    return OrgContext(organization=org, role=Role.OWNER, user=None)
