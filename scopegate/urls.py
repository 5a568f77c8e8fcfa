from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from scopegate.api import not_found
from scopegate.views import docs_view, healthz

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("connectors.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("audit.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", docs_view(SpectacularSwaggerSplitView.as_view(url_name="api_schema")), name="api_docs"),
    re_path(r"^.*$", not_found),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    re_path(r"^api/.*$", not_found),
    path("accounts/", include("allauth.urls")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
    path("", include("accounts.urls")),
    path("", include("connectors.urls")),
    path("", include("policies.urls")),
    path("", include("audit.urls")),
]
