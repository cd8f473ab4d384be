"""Charts drawn on the server as inline SVG: no script, no CDN, nothing a Content
Security Policy has to allow. The page shows each chart's table beneath it. Both are
written in Python rather than a template per bar and cell, which for a
region's hundred counties costs more than the rest of the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

LABEL_CHARACTERS = 11

LABEL_WIDTH = 150
BAR = 14
GAP = 10
TEXT = 11  # baseline offset within a bar
LEGEND_FROM = 2  # series


@dataclass(frozen=True)
class Bar:
    series: int
    x: int
    y: int
    width: int
    value: int
    text_x: int
    text_y: int


@dataclass(frozen=True)
class Group:
    label: str
    label_y: int
    bars: list[Bar]


@dataclass(frozen=True)
class Legend:
    series: int
    name: str
    x: int


@dataclass(frozen=True)
class Chart:
    groups: list[Group]
    legend: list[Legend]
    width: int
    height: int
    legend_y: int
    bar_height: int = BAR - 2


def bars(rows: list[tuple[str, list[int]]], series: list[str], width: int = 640) -> Chart:
    """Horizontal bars, one group per row and one bar per series within it, scaled to the
    largest value, with each value written after its bar and a legend beneath."""
    top = max((v for _, values in rows for v in values), default=0) or 1
    room = width - LABEL_WIDTH - 60
    groups = []
    y = 0
    for label, values in rows:
        group_bars = []
        for i, value in enumerate(values):
            length = max(1, round(room * value / top)) if value else 0
            group_bars.append(
                Bar(
                    series=i,
                    x=LABEL_WIDTH,
                    y=y + i * BAR,
                    width=length,
                    value=value,
                    text_x=LABEL_WIDTH + length + 4,
                    text_y=y + i * BAR + TEXT,
                )
            )
        height = max(1, len(values)) * BAR
        groups.append(Group(label=label, label_y=y + height // 2 + 4, bars=group_bars))
        y += height + GAP
    legend = [Legend(i, name, LABEL_WIDTH + 130 * i) for i, name in enumerate(series)]
    if len(series) < LEGEND_FROM:  # one series: the table's heading says what it is
        legend = []
    return Chart(
        groups=groups,
        legend=legend,
        width=width,
        height=y + (BAR + 4 if legend else 0),
        legend_y=y,
    )


def svg(chart: Chart, label: str) -> SafeString:
    """The chart as an inline <svg> (role img, named by ``label``). Built with the
    standard library's escape: a region's chart has hundreds of elements, and
    format_html's per-argument work would cost more than the rest of the page."""
    parts = []
    for group in chart.groups:
        name = escape(Truncator(group.label).chars(LABEL_CHARACTERS))
        parts.append(f'<text x="0" y="{group.label_y}">{name}</text>')
        parts.extend(
            f'<rect class="bar s{b.series}" x="{b.x}" y="{b.y}" width="{b.width}" '
            f'height="{chart.bar_height}"></rect><text x="{b.text_x}" y="{b.text_y}">{b.value}</text>'
            for b in group.bars
        )
    parts.extend(
        f'<rect class="bar s{i.series}" x="{i.x}" y="{chart.legend_y}" width="12" height="12">'
        f'</rect><text x="{i.x + 16}" y="{chart.legend_y + 10}">{escape(i.name)}</text>'
        for i in chart.legend
    )
    return mark_safe(  # noqa: S308 - every text above escaped, the rest are numbers
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{chart.width}" '
        f'height="{chart.height}" viewBox="0 0 {chart.width} {chart.height}">'
        f"{''.join(parts)}</svg>"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str) -> SafeString:
    """A plain table of figures (an empty one says 暂无)."""
    head = "".join(f'<th scope="col">{escape(str(h))}</th>' for h in headers)
    if rows:
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
        )
    else:
        body = f'<tr><td colspan="{len(headers)}" class="text-body-secondary">暂无</td></tr>'
    return mark_safe(  # noqa: S308 - every cell escaped above
        f'<table class="table table-sm w-auto" id="{escape(table_id)}"><thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table>"
    )
