"""The trail over the REST API: list with filters and cursor pagination, one event, and streamed exports."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from accounts.api.base import OrgScopedAPIView
from accounts.roles import Perm
from audit.api.serializers import EventDetailSerializer, EventPageSerializer, EventSerializer
from audit.export import FORMATS, export_response
from audit.forms import EventFilterForm, cursor_encode
from audit.selectors import EventFilters, event_detail, event_page

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _filter_parameters() -> list[OpenApiParameter]:
    params = []
    for name, field in EventFilterForm.base_fields.items():
        enum = [value for value, _ in getattr(field, "choices", []) if value] or None
        kind = OpenApiTypes.DATETIME if name in ("since", "until") else OpenApiTypes.STR
        description = "An opaque cursor from a `next` link." if name == "cursor" else str(field.label or "")
        params.append(OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description, enum=enum))
    return params


FILTERS = _filter_parameters()
LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description=f"1 to {MAX_LIMIT}")
FORMAT = OpenApiParameter("format", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=list(FORMATS), required=True)


def _validated(params, *, extra: tuple[str, ...] = ()) -> tuple[EventFilterForm, EventFilters]:
    form = EventFilterForm(params)
    errors = {name: [str(m) for m in messages] for name, messages in form.errors.items()} if not form.is_valid() else {}
    for name in params:
        if name not in form.fields and name not in extra:
            errors[name] = ["Unknown parameter."]
    if errors:
        raise ValidationError(errors)
    return form, form.filters()


def _limit(params) -> int:
    raw = params.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError({"limit": [f"Send an integer from 1 to {MAX_LIMIT}."]})
    return int(raw)


class _IgnoreFormatParameter(DefaultContentNegotiation):
    """``?format=`` picks the export's format here, not DRF's renderer: errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _EventsView(OrgScopedAPIView):
    read_perm = Perm.VIEW_AUDIT
    content_negotiation_class = _IgnoreFormatParameter


class EventListView(_EventsView):
    """The organization's events, newest first. Outcome events are folded into the call they complete."""

    serializer_class = EventSerializer
    pagination_class = None

    @extend_schema(operation_id="orgs_events_list", parameters=[*FILTERS, LIMIT], responses=EventPageSerializer)
    def get(self, request, org_slug):
        params = request.query_params
        form, filters = _validated(params, extra=("limit",))
        limit = _limit(params)
        page = event_page(
            organization_id=self.ctx.organization.pk, filters=filters, cursor=form.cleaned_data["cursor"], limit=limit
        )
        next_url = None
        if page.next_cursor is not None:
            query = form.query(cursor=cursor_encode(page.next_cursor), limit=str(limit))
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response({"results": EventSerializer(page.rows, many=True).data, "next": next_url})


class EventDetailView(_EventsView):
    serializer_class = EventDetailSerializer

    def get(self, request, org_slug, pk):
        detail = event_detail(organization_id=self.ctx.organization.pk, event_id=pk)
        if detail is None:
            raise NotFound()
        body = {**EventSerializer(detail.event).data, "completes": None}
        if detail.parent is not None:
            body["completes"] = EventSerializer({**detail.parent, "outcome_id": detail.event["id"]}).data
        return Response(body)


class EventExportView(_EventsView):
    """Every event matching the filters, streamed as CSV (with a header row) or JSON Lines."""

    @extend_schema(
        parameters=[*[p for p in FILTERS if p.name != "cursor"], FORMAT],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request, org_slug) -> StreamingHttpResponse:
        params = request.query_params
        _form, filters = _validated(params, extra=("format",))
        fmt = params.get("format", "")
        if fmt not in FORMATS:
            raise ValidationError({"format": ["Choose csv or jsonl."]})
        return export_response(request._request, organization=self.ctx.organization, filters=filters, fmt=fmt)
