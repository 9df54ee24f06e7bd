from __future__ import annotations

from typing import Any

from django import template

from listkeeper.feedback import chart, figures
from listkeeper.lists.models import MailingList

register = template.Library()


@register.filter
def percent(value: float, places: int = 2) -> str:
    """0.0512 → '5.12%'."""
    return f"{float(value) * 100:.{int(places)}f}%"


@register.inclusion_tag("feedback/_summary.html")
def deliverability_summary(ml: MailingList) -> dict[str, Any]:
    """The list's 30-day rates and chart, for the owner's list page."""
    series = figures.daily_series(ml, 30)
    return {
        "ml": ml,
        "rates": figures.list_rates(ml, 30),
        "chart": chart.problem_chart(series),
    }
