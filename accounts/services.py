"""Writes of the accounts app: organizations, memberships, invitations, API tokens, users.

Every function takes keyword-only arguments and raises ``ValidationError`` with field errors for bad input;
nothing is half-saved (each runs in one transaction).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import ApiToken, Invitation, Membership, Organization, User
from accounts.roles import TOKEN_ROLES, Perm, Role, grantable_roles
from accounts.tenancy import OrgContext
from audit.changes import change_record, record_change, snapshot
from scopegate.tokens import issue_secret, secret_digest

logger = logging.getLogger(__name__)

RESERVED_SLUGS = {"new", "api", "admin", "static", "mcp", "ws", "accounts", "invitations", "settings"}


# What a change's before/after shows of each object (never a secret or a digest).
ORG_FIELDS = ["name", "slug", "is_personal", "audit_retention_days"]
MEMBERSHIP_FIELDS = ["user", "role"]
INVITATION_FIELDS = ["email", "role", "expires_at", "accepted_at"]
TOKEN_FIELDS = ["name", "role", "prefix", "expires_at", "revoked_at"]


def _announce(org_id: int, event: str) -> None:
    """Tells the organization's open pages, on every node, that something changed, once the change commits."""

    def send() -> None:
        from asgiref.sync import async_to_sync

        from accounts.consumers import org_broadcast

        try:
            async_to_sync(org_broadcast)(org_id, event)
        except Exception:  # a page that does not refresh live is not worth failing a committed change
            logger.warning("could not announce %s to organization %s", event, org_id, exc_info=True)

    transaction.on_commit(send)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "org"
    if base in RESERVED_SLUGS:
        base = f"{base}-org"
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Enter a name."]})
    if len(name) > 100:
        raise ValidationError({"name": ["Use at most 100 characters."]})
    return name


@transaction.atomic
def organization_create(*, name: str, owner: User, is_personal: bool = False) -> Organization:
    org = Organization.objects.create(name=_clean_name(name), slug=_unique_slug(name), is_personal=is_personal)
    Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    change_record(
        organization_id=org.pk,
        actor=owner,
        action="organization.create",
        target_type="organization",
        target_id=org.pk,
        target_repr=org.name,
        after=snapshot(org, ORG_FIELDS),
    )
    return org


def organization_create_personal(*, user: User) -> Organization:
    local = user.email.split("@", 1)[0][:60] or "my"
    return organization_create(name=f"{local}'s workspace", owner=user, is_personal=True)


@transaction.atomic
def organization_rename(*, ctx: OrgContext, name: str) -> Organization:
    ctx.require(Perm.MANAGE_ORG)
    org = Organization.objects.select_for_update().get(pk=ctx.organization.pk)
    before = snapshot(org, ORG_FIELDS)
    org.name = _clean_name(name)
    org.save(update_fields=["name"])
    record_change(ctx, action="organization.rename", target=org, before=before, after=snapshot(org, ORG_FIELDS))
    return org


@transaction.atomic
def _organization_delete(*, ctx: OrgContext, confirm_slug: str) -> None:
    ctx.require(Perm.DELETE_ORG)
    if confirm_slug != ctx.organization.slug:
        raise ValidationError({"confirm_slug": ["Type the organization's slug to confirm."]})
    org = ctx.organization
    record_change(ctx, action="organization.delete", target=org, before=snapshot(org, ORG_FIELDS))
    Organization.objects.filter(pk=ctx.organization.pk).delete()


def organization_delete(*, ctx: OrgContext, confirm_slug: str) -> None:
    """Deletes an organization after revoking its OAuth grants at the providers (their rows go with it)."""
    ctx.require(Perm.DELETE_ORG)
    if confirm_slug != ctx.organization.slug:
        raise ValidationError({"confirm_slug": ["Type the organization's slug to confirm."]})
    from connectors.credentials import organization_credentials_revoke

    organization_credentials_revoke(organization_id=ctx.organization.pk)
    _organization_delete(ctx=ctx, confirm_slug=confirm_slug)


def _lock_org(ctx: OrgContext) -> Organization:
    """Serializes membership changes of one organization (the last-owner rule needs it)."""
    return Organization.objects.select_for_update().get(pk=ctx.organization.pk)


def _check_may_grant(ctx: OrgContext, role: str, field: str = "role") -> None:
    if role not in Role.values:
        raise ValidationError({field: [f"Choose one of: {', '.join(Role.values)}."]})
    if role not in grantable_roles(ctx.role):
        raise ValidationError({field: [f"Your role ({ctx.role}) may not grant the role {role}."]})


def _owner_count(org: Organization) -> int:
    return Membership.objects.filter(organization=org, role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, ctx: OrgContext, membership_id: int, role: str) -> Membership:
    ctx.require(Perm.MANAGE_MEMBERS)
    org = _lock_org(ctx)
    membership = ctx.get(Membership.objects.select_for_update(), pk=membership_id)
    _check_may_grant(ctx, role)
    if membership.role == Role.OWNER and not ctx.can(Perm.MANAGE_OWNERS):
        raise PermissionDenied("Only an owner may change an owner's role.")
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(org) == 1:
        raise ValidationError({"role": ["The last owner cannot be demoted: make someone else owner first."]})
    before = snapshot(membership, MEMBERSHIP_FIELDS)
    membership.role = role
    membership.save(update_fields=["role"])
    record_change(
        ctx, action="membership.role", target=membership, before=before, after=snapshot(membership, MEMBERSHIP_FIELDS)
    )
    _announce(org.pk, "members.changed")
    return membership


@transaction.atomic
def membership_remove(*, ctx: OrgContext, membership_id: int) -> None:
    org = _lock_org(ctx)
    membership = ctx.get(Membership.objects.select_for_update(), pk=membership_id)
    leaving_self = ctx.user is not None and membership.user_id == ctx.user.pk
    if not leaving_self:
        ctx.require(Perm.MANAGE_MEMBERS)
        if membership.role == Role.OWNER and not ctx.can(Perm.MANAGE_OWNERS):
            raise PermissionDenied("Only an owner may remove an owner.")
    if membership.role == Role.OWNER and _owner_count(org) == 1:
        raise ValidationError({"membership": ["The last owner cannot be removed: make someone else owner first."]})
    action = "membership.leave" if leaving_self else "membership.remove"
    record_change(ctx, action=action, target=membership, before=snapshot(membership, MEMBERSHIP_FIELDS))
    membership.delete()
    _announce(org.pk, "members.changed")


def _clean_email(email: str) -> str:
    from django.core.validators import validate_email

    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": ["Enter a valid e-mail address."]}) from exc
    return email


@transaction.atomic
def invitation_create(*, ctx: OrgContext, email: str, role: str) -> tuple[Invitation, str]:
    """Returns the invitation and the secret of its link (to be e-mailed, never stored)."""
    ctx.require(Perm.MANAGE_MEMBERS)
    email = _clean_email(email)
    _check_may_grant(ctx, role)
    if ctx.scoped(Membership).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": ["This person is already a member."]})
    # An expired pending invitation makes room for a new one.
    ctx.scoped(Invitation).filter(
        email__iexact=email, accepted_at__isnull=True, expires_at__lte=timezone.now()
    ).delete()
    if ctx.scoped(Invitation).filter(email__iexact=email, accepted_at__isnull=True).exists():
        raise ValidationError({"email": ["An invitation to this address is already pending."]})
    secret = issue_secret("inv")
    invitation = Invitation.objects.create(
        organization=ctx.organization,
        email=email,
        role=role,
        token_digest=secret.digest,
        invited_by=ctx.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    from accounts.tasks import send_invitation_email

    transaction.on_commit(lambda: send_invitation_email.delay(invitation.pk, secret.plaintext))
    record_change(ctx, action="invitation.create", target=invitation, after=snapshot(invitation, INVITATION_FIELDS))
    _announce(ctx.organization.pk, "members.changed")
    return invitation, secret.plaintext


@transaction.atomic
def invitation_revoke(*, ctx: OrgContext, invitation_id: int) -> None:
    ctx.require(Perm.MANAGE_MEMBERS)
    invitation = ctx.get(Invitation.objects.filter(accepted_at__isnull=True), pk=invitation_id)
    record_change(ctx, action="invitation.revoke", target=invitation, before=snapshot(invitation, INVITATION_FIELDS))
    invitation.delete()
    _announce(ctx.organization.pk, "members.changed")


def invitation_by_secret(secret: str) -> Invitation | None:
    if not secret or not secret.startswith("sg_inv_") or len(secret) > 100:
        return None
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_digest=secret_digest(secret))
        .first()
    )


def _user_has_verified_email(user: User, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def invitation_accept(*, user: User, secret: str) -> Membership:
    invitation = invitation_by_secret(secret)
    if invitation is None:
        raise ValidationError({"token": ["This invitation link is not valid."]})
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError({"token": ["This invitation was already accepted."]})
    if invitation.expires_at <= timezone.now():
        raise ValidationError({"token": ["This invitation has expired: ask for a new one."]})
    if not _user_has_verified_email(user, invitation.email):
        raise ValidationError(
            {"token": [f"This invitation is for {invitation.email}: log in with that verified address."]}
        )
    membership, _ = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    change_record(
        organization_id=invitation.organization_id,
        actor=user,
        action="invitation.accept",
        target_type="membership",
        target_id=membership.pk,
        target_repr=str(membership),
        after=snapshot(membership, MEMBERSHIP_FIELDS),
    )
    _announce(invitation.organization_id, "members.changed")
    return membership


@transaction.atomic
def api_token_issue(
    *, ctx: OrgContext, name: str, role: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Returns the token and its secret, which is shown once and stored only as a digest."""
    ctx.require(Perm.MANAGE_TOKENS)
    name = _clean_name(name)
    if role not in TOKEN_ROLES:
        raise ValidationError({"role": [f"Choose one of: {', '.join(TOKEN_ROLES)}."]})
    _check_may_grant(ctx, role)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Choose a time in the future."]})
    secret = issue_secret("api")
    token = ApiToken.objects.create(
        organization=ctx.organization,
        name=name,
        role=role,
        prefix=secret.prefix,
        digest=secret.digest,
        created_by=ctx.user,
        expires_at=expires_at,
    )
    record_change(ctx, action="api_token.issue", target=token, after=snapshot(token, TOKEN_FIELDS))
    return token, secret.plaintext


@transaction.atomic
def api_token_revoke(*, ctx: OrgContext, token_id: int) -> ApiToken:
    ctx.require(Perm.MANAGE_TOKENS)
    token = ctx.get(ApiToken.objects.select_for_update(), pk=token_id)
    if token.revoked_at is None:
        before = snapshot(token, TOKEN_FIELDS)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_change(ctx, action="api_token.revoke", target=token, before=before, after=snapshot(token, TOKEN_FIELDS))
    return token


def api_token_authenticate(secret: str) -> ApiToken | None:
    """The active token for a presented secret, touching its last-used time at most once a minute."""
    if not secret.startswith("sg_api_") or len(secret) > 100:
        return None
    token = ApiToken.objects.select_related("organization").filter(digest=secret_digest(secret)).first()
    if token is None or not token.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def user_create(*, email: str, password: str | None, verified: bool = True) -> User:
    """A user made by an operator (headless), with a verified address and a personal organization."""
    from allauth.account.models import EmailAddress

    email = _clean_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": ["A user with this e-mail address already exists."]})
    if password:
        from django.contrib.auth.password_validation import validate_password

        try:
            validate_password(password, User(email=email))
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
    try:
        user = User.objects.create_user(email=email, password=password)
    except IntegrityError as exc:
        raise ValidationError({"email": ["A user with this e-mail address already exists."]}) from exc
    if not password:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    organization_create_personal(user=user)
    return user
