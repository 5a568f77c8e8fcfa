"""Calls, denials and latency over time, per agent or per tool, aggregated in the database.

The ORM has no portable percentile, so each (time bucket, series) row carries a latency histogram (counts per
bin, one ``COUNT(... FILTER ...)`` each); p50 and p95 are read from the merged histogram by interpolating within
the bin. Histograms add, so rows truncated by minute, hour or day merge exactly into wider buckets in Python.
The same query runs on SQLite and PostgreSQL. Charts are drawn as inline SVG (no script, no inline style).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Trunc

from audit.models import Event
from audit.selectors import DENIALS, EventFilters, event_filter, org_events

# Upper bounds of the latency bins, in milliseconds; the last bin is open.
BOUNDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000)
GROUPS = {"": None, "agent": "agent_name", "tool": "tool"}
TOP_SERIES = 5
OTHER = "(other)"
WIDTHS = (
    (dt.timedelta(hours=3), "minute", dt.timedelta(minutes=5)),
    (dt.timedelta(days=3), "hour", dt.timedelta(hours=1)),
    (dt.timedelta(days=3660), "day", dt.timedelta(days=1)),
)
SVG_W, SVG_H, PAD_L, PAD_B, PAD_T = 640, 170, 52, 24, 10


def percentile(histogram: list[int], p: float) -> float | None:
    total = sum(histogram)
    if total == 0:
        return None
    rank, seen = p * total, 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = 0 if i == 0 else BOUNDS[i - 1]
            if i == len(BOUNDS):  # the open bin: its lower bound is all we know
                return float(low)
            return low + (BOUNDS[i] - low) * (rank - seen) / count
        seen += count
    return float(BOUNDS[-1])


@dataclass
class Cell:
    calls: int = 0
    denied: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))

    def add(self, other: Cell) -> None:
        self.calls += other.calls
        self.denied += other.denied
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]

    @property
    def p50(self) -> float | None:
        return percentile(self.histogram, 0.50)

    @property
    def p95(self) -> float | None:
        return percentile(self.histogram, 0.95)


@dataclass
class Series:
    name: str
    index: int
    cells: list[Cell]
    total: Cell


@dataclass
class Charts:
    since: dt.datetime
    until: dt.datetime
    width: dt.timedelta
    starts: list[dt.datetime]
    series: list[Series]
    total: Cell
    group: str


def _latency(organization_id: int):
    completion = org_events(organization_id=organization_id).filter(kind=Event.Kind.OUTCOME, parent_id=OuterRef("id"))
    return Coalesce(Subquery(completion.order_by("-id").values("latency_ms")[:1]), F("latency_ms"))


def _bins() -> dict[str, Count]:
    bins, low = {}, None
    for i, high in enumerate([*BOUNDS, None]):
        condition = Q(lat__isnull=False)
        if low is not None:
            condition &= Q(lat__gt=low)
        if high is not None:
            condition &= Q(lat__lte=high)
        bins[f"h{i}"] = Count("id", filter=condition)
        low = high
    return bins


def _bucket_of(moment: dt.datetime, since: dt.datetime, width: dt.timedelta) -> int:
    return int((moment - since) // width)


def charts_build(
    *, organization_id: int, filters: EventFilters, since: dt.datetime, until: dt.datetime, group: str = ""
) -> Charts:
    """Aggregates the organization's MCP requests matching ``filters`` between ``since`` and ``until``."""
    span = max(until - since, dt.timedelta(minutes=1))
    unit, width = next((u, w) for limit, u, w in WIDTHS if span <= limit)
    # Buckets start on a multiple of their width (UTC), so that a minute-truncated row falls in exactly one.
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    start = epoch + ((since - epoch) // width) * width
    count = _bucket_of(until, start, width) + 1
    column = GROUPS[group]
    scoped = replace(filters, kind=Event.Kind.MCP, since=since, until=until)
    qs = event_filter(organization_id=organization_id, filters=scoped).order_by()
    names = ["bucket", column] if column else ["bucket"]
    rows = (
        qs.annotate(bucket=Trunc("time", unit, tzinfo=dt.UTC), lat=_latency(organization_id))
        .values(*names)
        .annotate(calls=Count("id"), denied=Count("id", filter=Q(decision__in=DENIALS)), **_bins())
        .order_by()
    )
    per_series: dict[str, list[Cell]] = {}
    for row in rows:
        name = (row.get(column) or "(none)") if column else "All requests"
        cells = per_series.setdefault(name, [Cell() for _ in range(count)])
        index = min(max(_bucket_of(row["bucket"], start, width), 0), count - 1)
        cells[index].add(Cell(row["calls"], row["denied"], [row[f"h{i}"] for i in range(len(BOUNDS) + 1)]))
    return Charts(
        since=since,
        until=until,
        width=width,
        starts=[start + i * width for i in range(count)],
        series=_top(per_series, count),
        total=_sum(cell for cells in per_series.values() for cell in cells),
        group=group,
    )


def _sum(cells) -> Cell:
    total = Cell()
    for cell in cells:
        total.add(cell)
    return total


def _top(per_series: dict[str, list[Cell]], count: int) -> list[Series]:
    totals = {name: _sum(cells) for name, cells in per_series.items()}
    ranked = sorted(totals, key=lambda name: (-totals[name].calls, name))
    keep, rest = ranked[:TOP_SERIES], ranked[TOP_SERIES:]
    series = [Series(name, i, per_series[name], totals[name]) for i, name in enumerate(keep)]
    if rest:
        cells = [_sum(per_series[name][i] for name in rest) for i in range(count)]
        series.append(Series(OTHER, len(series), cells, _sum(cells)))
    return series


def _fmt_ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def svg_chart(charts: Charts, metric: str) -> dict[str, Any]:
    """Geometry of one line chart (``calls``, ``denied``, ``p50`` or ``p95``) for the template to draw."""
    values = [[getattr(cell, metric) for cell in s.cells] for s in charts.series]
    peak = max([v for line in values for v in line if v is not None] or [0])
    top = peak if peak > 0 else 1
    inner_w, inner_h = SVG_W - PAD_L - 8, SVG_H - PAD_B - PAD_T
    step = inner_w / max(len(charts.starts) - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{PAD_L + i * step:.1f},{PAD_T + inner_h - (v / top) * inner_h:.1f}"

    lines = []
    for s, line in zip(charts.series, values, strict=True):
        # A bucket without latency data breaks the line rather than drawing a false zero.
        segments, current = [], []
        for i, v in enumerate(line):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(point(i, v))
        if current:
            segments.append(current)
        lines.append({"name": s.name, "index": s.index, "segments": [" ".join(seg) for seg in segments]})
    latency = metric in ("p50", "p95")
    label = _fmt_ms(peak) if latency else str(int(peak))
    ticks = [charts.starts[0], charts.starts[len(charts.starts) // 2], charts.starts[-1]]
    fmt = "%b %d" if charts.width >= dt.timedelta(days=1) else "%H:%M"
    return {
        "metric": metric,
        "width": SVG_W,
        "height": SVG_H,
        "lines": lines,
        "peak_label": label,
        "left": PAD_L,
        "right": SVG_W - 8,
        "top": PAD_T,
        "base": PAD_T + inner_h,
        "text_y": SVG_H - 6,
        "ticks": [
            {"x": PAD_L + (inner_w if i == 2 else inner_w / 2 * i), "label": t.strftime(fmt), "anchor": a}
            for i, (t, a) in enumerate(zip(ticks, ("start", "middle", "end"), strict=True))
        ],
    }
