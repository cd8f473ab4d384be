"""Charts drawn on the server as inline SVG: no script, no CDN, nothing a Content
Security Policy has to allow. The page shows each chart's table beneath it."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_WIDTH = 150
BAR = 14
GAP = 10
TEXT = 11  # baseline offset within a bar


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
    if len(series) < 2:  # one series: the table's heading says what it is
        legend = []
    return Chart(
        groups=groups,
        legend=legend,
        width=width,
        height=y + (BAR + 4 if legend else 0),
        legend_y=y,
    )
