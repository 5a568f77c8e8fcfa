from django.urls import path

from audit import views, views_settings

ACTIVITY = "o/<slug:org_slug>/activity/"
SETTINGS = "o/<slug:org_slug>/settings/audit/"

urlpatterns = [
    path(ACTIVITY, views.activity, name="activity"),
    path(ACTIVITY + "<int:pk>/", views.activity_event, name="activity_event"),
    path(ACTIVITY + "charts/", views.activity_charts, name="activity_charts"),
    path(ACTIVITY + "export/", views.activity_export, name="activity_export"),
    path(ACTIVITY + "verify/", views.activity_verify, name="activity_verify"),
    path(ACTIVITY + "verify/<int:pk>/", views.activity_verify_run, name="activity_verify_run"),
    path(SETTINGS, views_settings.audit_settings, name="audit_settings"),
    path(SETTINGS + "siem/", views_settings.audit_siem, name="audit_siem"),
    path(SETTINGS + "siem/rotate/", views_settings.audit_siem_rotate, name="audit_siem_rotate"),
    path(SETTINGS + "siem/delete/", views_settings.audit_siem_delete, name="audit_siem_delete"),
]
