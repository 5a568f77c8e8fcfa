from django.urls import path

from accounts.api import views

urlpatterns = [
    path("orgs/", views.OrganizationListView.as_view(), name="api_orgs"),
    path("orgs/<slug:org_slug>/", views.OrganizationDetailView.as_view(), name="api_org"),
    path("orgs/<slug:org_slug>/members/", views.MembershipListView.as_view(), name="api_members"),
    path("orgs/<slug:org_slug>/members/<int:pk>/", views.MembershipDetailView.as_view(), name="api_member"),
    path("orgs/<slug:org_slug>/invitations/", views.InvitationListView.as_view(), name="api_invitations"),
    path("orgs/<slug:org_slug>/invitations/<int:pk>/", views.InvitationDetailView.as_view(), name="api_invitation"),
    path("orgs/<slug:org_slug>/tokens/", views.ApiTokenListView.as_view(), name="api_tokens"),
    path("orgs/<slug:org_slug>/tokens/<int:pk>/", views.ApiTokenDetailView.as_view(), name="api_token"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="api_invitation_accept"),
]
