"""Cross-cutting HTTP behaviour: body limits and the status of an invalid form."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse


def too_large_response(request: HttpRequest) -> HttpResponse:
    message = f"The request body is larger than {settings.MAX_BODY_BYTES} bytes."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"type": "payload_too_large", "detail": message}}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class BodySizeLimitMiddleware:
    """Answers 413 from the declared Content-Length before any view reads the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length.", status=400, content_type="text/plain")
        if declared > settings.MAX_BODY_BYTES:
            return too_large_response(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(request)
        return None


class InvalidFormStatusMiddleware:
    """A POST that re-renders a form with errors answers 400, for our views and allauth's alike.

    htmx is configured (base.html) to swap 400 answers, so in-place forms still show their field errors.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_template_response(self, request: HttpRequest, response: TemplateResponse) -> TemplateResponse:
        if request.method != "POST" or response.status_code != 200:
            return response
        context = response.context_data or {}
        if any(isinstance(v, BaseForm) and v.is_bound and v.errors for v in context.values()):
            response.status_code = 400
        return response
