"""Who and through what, for every change a page or API request makes: read by ``change_record``."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse

from audit.changes import audit_context, new_request_id
from audit.models import Event

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else new_request_id()
        via = Event.Via.API if request.path.startswith("/api/") else Event.Via.PAGE
        with audit_context(via=via, source_ip=request.META.get("REMOTE_ADDR") or None, request_id=request_id):
            response = self.get_response(request)
        response.headers.setdefault("X-Request-Id", request_id)
        return response
