from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, Invitation, Membership, Organization
from accounts.tenancy import OrgContext
from tests.factories import make_user

Role = Membership.Role


def ctx_of(world, role: str) -> OrgContext:
    return world.ctx(role)


def test_creating_an_organization_makes_its_creator_the_owner(world):
    org = services.organization_create(name="Acme", owner=world.member)
    assert org.slug.startswith("acme-") and org.slug != world.acme.slug
    assert Membership.objects.get(organization=org, user=world.member).role == Role.OWNER


def test_a_reserved_word_is_never_an_organization_slug(world):
    assert services.organization_create(name="API", owner=world.owner).slug == "api-org"


def test_the_last_owner_cannot_be_demoted_or_removed(world):
    ctx = ctx_of(world, "owner")
    own = world.membership(world.owner)
    with pytest.raises(ValidationError, match="last owner"):
        services.membership_change_role(ctx=ctx, membership_id=own.pk, role=Role.ADMIN)
    with pytest.raises(ValidationError, match="last owner"):
        services.membership_remove(ctx=ctx, membership_id=own.pk)
    assert world.membership(world.owner).role == Role.OWNER


def test_an_owner_can_step_down_once_another_owner_exists(world):
    ctx = ctx_of(world, "owner")
    services.membership_change_role(ctx=ctx, membership_id=world.membership(world.admin).pk, role=Role.OWNER)
    services.membership_change_role(ctx=ctx, membership_id=world.membership(world.owner).pk, role=Role.MEMBER)
    assert world.membership(world.owner).role == Role.MEMBER


def test_an_admin_can_neither_grant_ownership_nor_touch_an_owner(world):
    ctx = ctx_of(world, "admin")
    with pytest.raises(ValidationError, match="may not grant"):
        services.membership_change_role(ctx=ctx, membership_id=world.membership(world.erin).pk, role=Role.OWNER)
    with pytest.raises(PermissionDenied):
        services.membership_remove(ctx=ctx, membership_id=world.membership(world.owner).pk)


def test_a_member_may_leave_but_not_remove_others(world):
    ctx = ctx_of(world, "member")
    with pytest.raises(PermissionDenied):
        services.membership_remove(ctx=ctx, membership_id=world.membership(world.erin).pk)
    services.membership_remove(ctx=ctx, membership_id=world.membership(world.member).pk)
    assert not Membership.objects.filter(organization=world.acme, user=world.member).exists()


def test_a_membership_of_another_organization_is_not_found(world):
    from django.http import Http404

    foreign = Membership.objects.get(organization=world.evil)
    with pytest.raises(Http404):
        services.membership_remove(ctx=ctx_of(world, "owner"), membership_id=foreign.pk)
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_an_invitation_is_mailed_and_accepted_by_the_invited_address_only(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, secret = services.invitation_create(
            ctx=ctx_of(world, "admin"), email="New@Acme.test", role="auditor"
        )
    assert invitation.email == "new@acme.test"
    assert secret not in invitation.token_digest
    assert len(mail.outbox) == 1 and secret in mail.outbox[0].body
    assert mail.outbox[0].to == ["new@acme.test"]

    with pytest.raises(ValidationError, match=r"is for new@acme\.test"):
        services.invitation_accept(user=world.outsider, secret=secret)
    newcomer = make_user("new@acme.test")
    membership = services.invitation_accept(user=newcomer, secret=secret)
    assert membership.organization == world.acme and membership.role == Role.AUDITOR
    with pytest.raises(ValidationError, match="already accepted"):
        services.invitation_accept(user=newcomer, secret=secret)


def test_an_unverified_address_cannot_accept(world):
    _, secret = services.invitation_create(ctx=ctx_of(world, "owner"), email="late@acme.test", role="member")
    with pytest.raises(ValidationError):
        services.invitation_accept(user=make_user("late@acme.test", verified=False), secret=secret)


def test_an_expired_invitation_is_refused_and_can_be_sent_again(world):
    ctx = ctx_of(world, "owner")
    invitation, secret = services.invitation_create(ctx=ctx, email="slow@acme.test", role="member")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        services.invitation_accept(user=make_user("slow@acme.test"), secret=secret)
    services.invitation_create(ctx=ctx, email="slow@acme.test", role="member")
    assert Invitation.objects.filter(email="slow@acme.test").count() == 1


def test_inviting_a_member_or_a_pending_address_again_is_a_field_error(world):
    ctx = ctx_of(world, "owner")
    with pytest.raises(ValidationError) as exc:
        services.invitation_create(ctx=ctx, email="MIA@acme.test", role="member")
    assert "already a member" in exc.value.message_dict["email"][0]
    services.invitation_create(ctx=ctx, email="x@acme.test", role="member")
    with pytest.raises(ValidationError, match="already pending"):
        services.invitation_create(ctx=ctx, email="x@acme.test", role="member")


def test_an_api_token_is_shown_once_stored_as_a_digest_and_refused_once_revoked(world):
    ctx = ctx_of(world, "admin")
    token, secret = services.api_token_issue(ctx=ctx, name="ci", role="auditor")
    assert secret.startswith("sg_api_") and secret.startswith(token.prefix)
    stored = ApiToken.objects.get(pk=token.pk)
    assert secret not in {stored.digest, stored.prefix, stored.name}
    assert services.api_token_authenticate(secret).pk == token.pk
    assert services.api_token_authenticate(secret + "x") is None
    services.api_token_revoke(ctx=ctx, token_id=token.pk)
    assert services.api_token_authenticate(secret) is None


def test_an_expired_api_token_is_refused(world):
    token, secret = services.api_token_issue(ctx=ctx_of(world, "owner"), name="old", role="admin")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.api_token_authenticate(secret) is None


def test_a_token_never_carries_the_owner_role(world):
    with pytest.raises(ValidationError):
        services.api_token_issue(ctx=ctx_of(world, "owner"), name="root", role="owner")


def test_deleting_an_organization_needs_its_slug_and_takes_everything_with_it(world):
    ctx = ctx_of(world, "owner")
    with pytest.raises(ValidationError):
        services.organization_delete(ctx=ctx, confirm_slug="nope")
    services.organization_delete(ctx=ctx, confirm_slug=world.acme.slug)
    assert not Organization.objects.filter(pk=world.acme.pk).exists()
    assert not Membership.objects.filter(organization_id=world.acme.pk).exists()
    assert Organization.objects.filter(pk=world.evil.pk).exists()


def test_scoping_refuses_a_model_that_has_no_organization(world):
    with pytest.raises(TypeError):
        ctx_of(world, "owner").scoped(Organization)
