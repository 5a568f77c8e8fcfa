from django.urls import path

from connectors.api import views

ORG = "orgs/<slug:org_slug>/"

urlpatterns = [
    path(ORG + "connections/", views.ConnectionListView.as_view(), name="api_connections"),
    path(ORG + "connections/<int:pk>/", views.ConnectionDetailView.as_view(), name="api_connection"),
    path(ORG + "connections/<int:pk>/sync/", views.ConnectionSyncView.as_view(), name="api_connection_sync"),
    path(ORG + "connections/<int:pk>/items/", views.CatalogItemListView.as_view(), name="api_connection_items"),
    path(
        ORG + "connections/<int:pk>/items/<int:item_pk>/approve/",
        views.CatalogItemApproveView.as_view(),
        name="api_catalog_item_approve",
    ),
]
