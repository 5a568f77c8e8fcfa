from django.urls import path

from connectors import views

urlpatterns = [path("o/<slug:org_slug>/connections/", views.connections, name="connections")]
