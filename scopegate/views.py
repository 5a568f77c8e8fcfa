from csp.decorators import csp_update
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def docs_view(view):
    """Swagger UI styles itself inline and loads its images as data: URIs; allow that on this page only."""
    return csp_update({"style-src": ["'unsafe-inline'"]})(view)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
