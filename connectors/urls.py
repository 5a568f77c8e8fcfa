from django.urls import path

from connectors import oauth_views, views

urlpatterns = [
    path("o/<slug:org_slug>/connections/", views.connections, name="connections"),
    path("o/<slug:org_slug>/connections/<int:pk>/", views.connection_detail, name="connection_detail"),
    path("o/<slug:org_slug>/connections/<int:pk>/sync/", views.connection_sync, name="connection_sync"),
    path("o/<slug:org_slug>/connections/<int:pk>/delete/", views.connection_delete, name="connection_delete"),
    path("o/<slug:org_slug>/connections/connect/<slug:provider>/", oauth_views.connect_start, name="connect_start"),
    path(
        "o/<slug:org_slug>/connections/<int:pk>/disconnect/",
        oauth_views.connection_disconnect,
        name="connection_disconnect",
    ),
    path(
        "o/<slug:org_slug>/connections/<int:pk>/reconnect/",
        oauth_views.connection_reconnect,
        name="connection_reconnect",
    ),
    path("oauth/<slug:provider>/callback/", oauth_views.oauth_callback, name="oauth_callback"),
    path(
        "o/<slug:org_slug>/connections/<int:pk>/items/<int:item_pk>/approve/",
        views.catalog_item_approve,
        name="catalog_item_approve",
    ),
]
