from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from accounts import services
from accounts.api.base import OrgScopedAPIView
from accounts.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenIssuedSerializer,
    ApiTokenSerializer,
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    OrganizationSerializer,
    OrganizationWriteSerializer,
)
from accounts.authentication import TokenPrincipal
from accounts.models import ApiToken, Invitation, Membership, Organization
from accounts.roles import Perm
from accounts.selectors import memberships_of


def _person(request):
    """The logged-in person, refusing API tokens for actions that only a person may take."""
    if isinstance(request.user, TokenPrincipal):
        raise PermissionDenied("Only a person, not an API token, may do this.")
    return request.user


class OrganizationListView(generics.GenericAPIView):
    serializer_class = OrganizationSerializer
    pagination_class = None

    @extend_schema(responses=OrganizationSerializer(many=True))
    def get(self, request):
        if isinstance(request.user, TokenPrincipal):
            token = request.user.token
            orgs, roles = [token.organization], {token.organization_id: token.role}
        else:
            memberships = list(memberships_of(request.user))
            orgs = [m.organization for m in memberships]
            roles = {m.organization_id: m.role for m in memberships}
        return Response(OrganizationSerializer(orgs, many=True, context={"roles": roles}).data)

    @extend_schema(request=OrganizationWriteSerializer, responses={201: OrganizationSerializer})
    def post(self, request):
        user = _person(request)
        data = OrganizationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = services.organization_create(name=data.validated_data["name"], owner=user)
        body = OrganizationSerializer(org, context={"roles": {org.pk: "owner"}}).data
        return Response(body, status=status.HTTP_201_CREATED)


class OrganizationDetailView(OrgScopedAPIView):
    serializer_class = OrganizationSerializer
    model = Organization
    write_perm = Perm.MANAGE_ORG

    def _body(self, org: Organization) -> dict:
        return OrganizationSerializer(org, context={"roles": {org.pk: self.ctx.role}}).data

    def get(self, request, org_slug):
        return Response(self._body(self.ctx.organization))

    @extend_schema(request=OrganizationWriteSerializer, responses=OrganizationSerializer)
    def patch(self, request, org_slug):
        data = OrganizationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = services.organization_rename(ctx=self.ctx, name=data.validated_data["name"])
        return Response(self._body(org))

    def delete(self, request, org_slug):
        services.organization_delete(ctx=self.ctx, confirm_slug=self.ctx.organization.slug)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = MembershipSerializer
    model = Membership

    def base_queryset(self):
        return Membership.objects.select_related("user")

    def get(self, request, org_slug):
        return self.list(request)


class MembershipDetailView(OrgScopedAPIView):
    serializer_class = MembershipSerializer
    model = Membership
    write_perm = Perm.VIEW  # removing oneself is allowed to any member; the service checks the rest

    def base_queryset(self):
        return Membership.objects.select_related("user")

    def get(self, request, org_slug, pk):
        return Response(MembershipSerializer(self.get_object()).data)

    @extend_schema(request=MembershipRoleSerializer, responses=MembershipSerializer)
    def patch(self, request, org_slug, pk):
        data = MembershipRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            ctx=self.ctx, membership_id=self.get_object().pk, role=data.validated_data["role"]
        )
        return Response(MembershipSerializer(membership).data)

    def delete(self, request, org_slug, pk):
        services.membership_remove(ctx=self.ctx, membership_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = InvitationSerializer
    model = Invitation
    read_perm = Perm.MANAGE_MEMBERS
    write_perm = Perm.MANAGE_MEMBERS

    def base_queryset(self):
        return Invitation.objects.filter(accepted_at__isnull=True).select_related("invited_by")

    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def post(self, request, org_slug):
        data = InvitationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, _secret = services.invitation_create(ctx=self.ctx, **data.validated_data)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(OrgScopedAPIView):
    serializer_class = InvitationSerializer
    model = Invitation
    read_perm = Perm.MANAGE_MEMBERS
    write_perm = Perm.MANAGE_MEMBERS

    def get(self, request, org_slug, pk):
        return Response(InvitationSerializer(self.get_object()).data)

    def delete(self, request, org_slug, pk):
        services.invitation_revoke(ctx=self.ctx, invitation_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAcceptView(generics.GenericAPIView):
    serializer_class = InvitationAcceptSerializer

    @extend_schema(request=InvitationAcceptSerializer, responses={200: MembershipSerializer})
    def post(self, request):
        user = _person(request)
        data = InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.invitation_accept(user=user, secret=data.validated_data["token"])
        return Response({**MembershipSerializer(membership).data, "organization": membership.organization.slug})


class ApiTokenListView(mixins.ListModelMixin, OrgScopedAPIView):
    serializer_class = ApiTokenSerializer
    model = ApiToken
    read_perm = Perm.MANAGE_TOKENS
    write_perm = Perm.MANAGE_TOKENS

    def base_queryset(self):
        return ApiToken.objects.select_related("created_by")

    def get(self, request, org_slug):
        return self.list(request)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenIssuedSerializer})
    def post(self, request, org_slug):
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = services.api_token_issue(ctx=self.ctx, **data.validated_data)
        body = {**ApiTokenSerializer(token).data, "token": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(OrgScopedAPIView):
    serializer_class = ApiTokenSerializer
    model = ApiToken
    read_perm = Perm.MANAGE_TOKENS
    write_perm = Perm.MANAGE_TOKENS

    def get(self, request, org_slug, pk):
        return Response(ApiTokenSerializer(self.get_object()).data)

    def delete(self, request, org_slug, pk):
        services.api_token_revoke(ctx=self.ctx, token_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
