from django.urls import path

from connectors import views

urlpatterns = [
    path("o/<slug:org_slug>/connections/", views.connections, name="connections"),
    path("o/<slug:org_slug>/connections/<int:pk>/", views.connection_detail, name="connection_detail"),
    path("o/<slug:org_slug>/connections/<int:pk>/sync/", views.connection_sync, name="connection_sync"),
    path("o/<slug:org_slug>/connections/<int:pk>/delete/", views.connection_delete, name="connection_delete"),
    path(
        "o/<slug:org_slug>/connections/<int:pk>/items/<int:item_pk>/approve/",
        views.catalog_item_approve,
        name="catalog_item_approve",
    ),
]
