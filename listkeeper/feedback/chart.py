"""Bar charts as inline SVG geometry, computed here so pages need no JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listkeeper.feedback.figures import Day


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
    width = len(columns) * (bar + gap) + 24  # room on the right for today's label
    chart = Chart(width=width, height=height, label=label, top=f"{top_value:g}")
    for i, col in enumerate(columns):
        x = i * (bar + gap)
        base: float = plot
        for value, colour, title in col:
            if value <= 0:
                continue
            h = max(1.0, plot * value / top_value)
            base -= h
            chart.segments.append(Segment(x, round(base, 2), bar, round(h, 2), colour, title))
        if (len(columns) - 1 - i) % label_every == 0:  # counted from today, so today is labelled
            chart.axis.append((x, labels[i]))
    return chart


HARD, SOFT, COMPLAINT, SENT = "#a33", "#d08a00", "#6b3fa0", "#0b5cad"
LEGEND = [
    (HARD, gettext_lazy("hard bounces")),
    (SOFT, gettext_lazy("soft bounces")),
    (COMPLAINT, gettext_lazy("complaints")),
]


def _day(d: Day) -> str:
    """`07 Mar`, with the month's name in the active language."""
    return date_format(d.day, "d M")


def sent_chart(series: Sequence[Day]) -> Chart:
    return stacked_bars(
        [
            [(d.sent, SENT, _("%(day)s: %(n)s sent") % {"day": _day(d), "n": d.sent})]
            for d in series
        ],
        [_day(d) for d in series],
        label=_("Copies handed to Postfix per day, last 30 days"),
    )


def problem_chart(series: Sequence[Day]) -> Chart:
    return stacked_bars(
        [
            [
                (
                    d.hard_bounces,
                    HARD,
                    _("%(day)s: %(n)s hard bounces") % {"day": _day(d), "n": d.hard_bounces},
                ),
                (
                    d.soft_bounces,
                    SOFT,
                    _("%(day)s: %(n)s soft bounces") % {"day": _day(d), "n": d.soft_bounces},
                ),
                (
                    d.complaints,
                    COMPLAINT,
                    _("%(day)s: %(n)s complaints") % {"day": _day(d), "n": d.complaints},
                ),
            ]
            for d in series
        ],
        [_day(d) for d in series],
        label=_("Bounces and complaints per day, last 30 days"),
    )
