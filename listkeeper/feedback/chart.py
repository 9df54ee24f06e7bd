"""Bar charts as inline SVG geometry, computed here so pages need no JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    label: str
    segments: list[Segment] = field(default_factory=list)
    axis: list[tuple[float, str]] = field(default_factory=list)  # (x, text) under some columns
    top: str = ""  # what the full height stands for


def stacked_bars(
    columns: Sequence[Sequence[tuple[float, str, str]]],
    labels: Sequence[str],
    *,
    label: str,
    height: int = 120,
    bar: int = 14,
    gap: int = 4,
    label_every: int = 7,
) -> Chart:
    """One column per label, each a stack of (value, colour, title) from the bottom up."""
    top_value = max((sum(v for v, _, _ in col) for col in columns), default=0) or 1
    plot = height - 16  # room for the labels underneath
    chart = Chart(
        width=len(columns) * (bar + gap), height=height, label=label, top=f"{top_value:g}"
    )
    for i, col in enumerate(columns):
        x = i * (bar + gap)
        base = plot
        for value, colour, title in col:
            if value <= 0:
                continue
            h = max(1.0, plot * value / top_value)
            base -= h
            chart.segments.append(Segment(x, round(base, 2), bar, round(h, 2), colour, title))
        if (len(columns) - 1 - i) % label_every == 0:  # counted from today, so today is labelled
            chart.axis.append((x, labels[i]))
    return chart
