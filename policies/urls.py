from django.urls import path

from policies import views

urlpatterns = [
    path("o/<slug:org_slug>/agents/", views.agents, name="agents"),
    path("o/<slug:org_slug>/approvals/", views.approvals, name="approvals"),
]
