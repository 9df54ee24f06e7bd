"""{% delivery_status %}: fan-out progress, workers and the catcher's outbox, for the status page."""

from __future__ import annotations

from typing import Any

from django import template

from listkeeper.delivery.status import status_context

register = template.Library()


@register.inclusion_tag("delivery/_status.html")
def delivery_status() -> dict[str, Any]:
    return status_context()
