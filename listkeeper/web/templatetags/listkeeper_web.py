from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def details(value: Any) -> str:
    """An audit entry's details as `key: value` pairs; autoescaped by the template."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    parts = []
    for key, item in value.items():
        if isinstance(item, list) and len(item) == 2 and key != "added" and key != "removed":
            item = f"{item[0]} → {item[1]}"
        elif isinstance(item, list):
            item = ", ".join(str(i) for i in item) or "none"
        parts.append(f"{key}: {item}")
    return "; ".join(parts)
