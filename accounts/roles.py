"""What each role may do: the one table every page and endpoint consults."""

from __future__ import annotations

from enum import StrEnum

from accounts.models import Membership

Role = Membership.Role


class Perm(StrEnum):
    VIEW = "view"  # see the organization, its connections and agents
    USE = "use"  # use what the organization governs (e.g. its agents' endpoints)
    GOVERN = "govern"  # add connections, create agents, edit policies, decide approvals
    VIEW_AUDIT = "view_audit"  # read the activity and approval history
    MANAGE_ORG = "manage_org"  # rename the organization
    DELETE_ORG = "delete_org"
    MANAGE_MEMBERS = "manage_members"  # invite, change roles below owner, remove non-owners
    MANAGE_OWNERS = "manage_owners"  # make or unmake owners
    MANAGE_TOKENS = "manage_tokens"  # issue and revoke API tokens


_ADMIN = {
    Perm.VIEW,
    Perm.USE,
    Perm.GOVERN,
    Perm.VIEW_AUDIT,
    Perm.MANAGE_ORG,
    Perm.MANAGE_MEMBERS,
    Perm.MANAGE_TOKENS,
}

ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(_ADMIN | {Perm.DELETE_ORG, Perm.MANAGE_OWNERS}),
    Role.ADMIN: frozenset(_ADMIN),
    Role.MEMBER: frozenset({Perm.VIEW, Perm.USE}),
    Role.AUDITOR: frozenset({Perm.VIEW, Perm.VIEW_AUDIT}),
}

# Roles an API token may carry: a token never owns an organization.
TOKEN_ROLES = (Role.ADMIN, Role.MEMBER, Role.AUDITOR)
TOKEN_ROLE_CHOICES = [(r.value, r.label) for r in TOKEN_ROLES]


def role_can(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMS.get(role, frozenset())


def grantable_roles(actor_role: str) -> list[str]:
    """The roles an actor may hand out by invitation or role change."""
    if role_can(actor_role, Perm.MANAGE_OWNERS):
        return [r.value for r in Role]
    if role_can(actor_role, Perm.MANAGE_MEMBERS):
        return [Role.ADMIN.value, Role.MEMBER.value, Role.AUDITOR.value]
    return []
