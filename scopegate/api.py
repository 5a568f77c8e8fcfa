"""The one error shape of the REST API, from one exception handler.

{"error": {"type": "validation_error", "detail": "...", "fields": {"name": ["..."]}}}
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _flatten(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _flatten(value)]
    return [str(detail)]


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"error": {"type": "payload_too_large", "detail": "The request body is too large."}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args[:1])
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body: dict = {"type": getattr(exc, "default_code", "error")}
    if isinstance(exc, exceptions.ValidationError):
        body["type"] = "validation_error"
        if isinstance(detail, dict):
            fields = {k: _flatten(v) for k, v in detail.items() if k != "non_field_errors"}
            general = _flatten(detail.get("non_field_errors", []))
            body["detail"] = general[0] if general else "Some fields are not valid."
            if fields:
                body["fields"] = fields
            if len(general) > 1:
                body["errors"] = general
        else:
            messages = _flatten(detail)
            body["detail"] = messages[0] if messages else "The request is not valid."
    else:
        body["detail"] = str(detail.get("detail", "")) if isinstance(detail, dict) else " ".join(_flatten(detail))
    response.data = {"error": body}
    return response


def not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse({"error": {"type": "not_found", "detail": "No such endpoint."}}, status=404)
