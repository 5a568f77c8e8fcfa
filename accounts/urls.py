from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.root, name="root"),
    path("orgs/new/", views.org_create, name="org_create"),
    path("invitations/<str:secret>/", views.invitation_detail, name="invitation_detail"),
    path("o/<slug:org_slug>/", views.org_home, name="org_home"),
    path("o/<slug:org_slug>/settings/", views.org_settings, name="org_settings"),
    path("o/<slug:org_slug>/settings/delete/", views.org_delete, name="org_delete"),
    path("o/<slug:org_slug>/settings/members/", views.members, name="members"),
    path("o/<slug:org_slug>/settings/members/invite/", views.invitation_create, name="invitation_create"),
    path(
        "o/<slug:org_slug>/settings/invitations/<int:pk>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("o/<slug:org_slug>/settings/members/<int:pk>/role/", views.membership_role, name="membership_role"),
    path("o/<slug:org_slug>/settings/members/<int:pk>/remove/", views.membership_remove, name="membership_remove"),
    path("o/<slug:org_slug>/settings/tokens/", views.api_tokens, name="settings_tokens"),
    path("o/<slug:org_slug>/settings/tokens/<int:pk>/revoke/", views.api_token_revoke, name="settings_token_revoke"),
]
