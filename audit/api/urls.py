from django.urls import path

from audit.api import views

EVENTS = "orgs/<slug:org_slug>/events/"

urlpatterns = [
    path(EVENTS, views.EventListView.as_view(), name="api_events"),
    path(EVENTS + "export", views.EventExportView.as_view(), name="api_events_export"),
    path(EVENTS + "<int:pk>/", views.EventDetailView.as_view(), name="api_event"),
]
