from django.urls import path

from audit import views

urlpatterns = [path("o/<slug:org_slug>/activity/", views.activity, name="activity")]
