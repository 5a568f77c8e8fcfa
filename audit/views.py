"""The Activity pages: the trail with its filters and live rows, one event, charts, export, integrity check."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Perm
from accounts.tenancy import OrgContext, org_view
from audit import charts as charts_mod
from audit.export import FORMATS, export_response
from audit.forms import EventFilterForm, cursor_encode
from audit.models import VerifyRun
from audit.rows import present
from audit.selectors import changed_fields, event_detail, event_page, known_values
from audit.verify_runs import verify_request

PAGE_SIZE = 50


def _results_context(ctx: OrgContext, form: EventFilterForm) -> dict[str, Any]:
    slug = ctx.organization.slug
    if not form.is_valid():
        return {"rows": [], "invalid": True}
    cursor = form.cleaned_data["cursor"]
    page = event_page(organization_id=ctx.organization.pk, filters=form.filters(), cursor=cursor, limit=PAGE_SIZE)
    return {
        "rows": [present(row, slug) for row in page.rows],
        "older": form.query(cursor=cursor_encode(page.next_cursor)) if page.next_cursor else "",
        "paged": cursor is not None,
        # Live rows join the first page only: an older page is a fixed window of the past.
        "live_url": "" if cursor else f"/ws/o/{slug}/activity/?{form.query()}",
        "query": form.query(),
    }


@org_view(Perm.VIEW_AUDIT)
@require_GET
def activity(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = EventFilterForm(request.GET)
    context = {"form": form, "nav": "activity", **_results_context(ctx, form)}
    status = 400 if context.get("invalid") else 200
    since = timezone.now() - dt.timedelta(hours=24)  # suggestions from a day: a bounded scan of the index
    context["known"] = known_values(organization_id=ctx.organization.pk, since=since)
    context["run"] = ctx.scoped(VerifyRun).order_by("-created_at").first()  # the last check, or the one under way
    return TemplateResponse(request, "audit/activity.html", context, status=status)


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@org_view(Perm.VIEW_AUDIT)
@require_GET
def activity_event(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    detail = event_detail(organization_id=ctx.organization.pk, event_id=pk)
    if detail is None:
        raise Http404
    event = detail.event
    context = {
        "nav": "activity",
        "event": event,
        "row": present(event, ctx.organization.slug),
        "arguments": _pretty(event.get("arguments")),
        "trace": event.get("trace") if isinstance(event.get("trace"), list) else [],
        "trace_raw": "" if isinstance(event.get("trace"), list) else _pretty(event.get("trace")),
        "changes": changed_fields(event.get("before"), event.get("after")) if event["kind"] != "mcp" else [],
        "outcome": detail.outcome,
        "parent": present(detail.parent, ctx.organization.slug) if detail.parent else None,
    }
    return TemplateResponse(request, "audit/event.html", context)


@org_view(Perm.VIEW_AUDIT)
@require_GET
def activity_charts(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    form = EventFilterForm(request.GET)
    group = request.GET.get("by", "")
    context: dict[str, Any] = {"form": form, "nav": "activity", "group": group, "query": ""}
    context["fields"] = [form[name] for name in ("since", "until", "agent", "connection", "tool", "decision")]
    if group not in charts_mod.GROUPS:
        context["group_error"] = "Group by agent, tool, or nothing."
    if not form.is_valid() or "group_error" in context:
        return TemplateResponse(request, "audit/charts.html", context, status=400)
    filters = form.filters()
    until = filters.until or timezone.now()
    since = filters.since or until - dt.timedelta(hours=24)
    built = charts_mod.charts_build(
        organization_id=ctx.organization.pk, filters=filters, since=since, until=until, group=group
    )
    context.update(
        charts=built,
        query=form.query(),
        svgs=[
            ("Requests", charts_mod.svg_chart(built, "calls")),
            ("Denied", charts_mod.svg_chart(built, "denied")),
            ("Latency p50", charts_mod.svg_chart(built, "p50")),
            ("Latency p95", charts_mod.svg_chart(built, "p95")),
        ],
    )
    return TemplateResponse(request, "audit/charts.html", context)


@org_view(Perm.VIEW_AUDIT)
@require_GET
def activity_export(request: HttpRequest, ctx: OrgContext) -> HttpResponseBase:
    form = EventFilterForm(request.GET)
    fmt = request.GET.get("format", "csv")
    errors = dict(form.errors) if not form.is_valid() else {}
    if fmt not in FORMATS:
        errors["format"] = ["Choose csv or jsonl."]
    if errors:
        lines = [f"{name}: {' '.join(messages)}" for name, messages in errors.items()]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    return export_response(request, organization=ctx.organization, filters=form.filters(), fmt=fmt)


@org_view(Perm.VIEW_AUDIT)
@require_POST
def activity_verify(request: HttpRequest, ctx: OrgContext) -> HttpResponse:
    """Queues an integrity check (or follows the one under way) and shows where it stands."""
    run = verify_request(ctx)
    if request.headers.get("HX-Request") == "true":
        return _verify_response(request, ctx, run, fragment=True)
    return redirect("activity_verify_run", org_slug=ctx.organization.slug, pk=run.pk)


@org_view(Perm.VIEW_AUDIT)
@require_GET
def activity_verify_run(request: HttpRequest, ctx: OrgContext, pk: int) -> HttpResponse:
    run = ctx.get(VerifyRun, pk=pk)
    return _verify_response(request, ctx, run, fragment=request.headers.get("HX-Request") == "true")


def _verify_response(request: HttpRequest, ctx: OrgContext, run: VerifyRun, *, fragment: bool) -> HttpResponse:
    context = {"nav": "activity", "run": run, "slug": ctx.organization.slug}
    return TemplateResponse(request, "audit/_verify.html" if fragment else "audit/verify.html", context)
