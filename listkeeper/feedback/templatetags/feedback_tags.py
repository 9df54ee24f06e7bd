from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float, places: int = 2) -> str:
    """0.0512 → '5.12%'."""
    return f"{float(value) * 100:.{int(places)}f}%"
