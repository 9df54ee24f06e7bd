"""Pages for members and the public (subscribe, confirm, unsubscribe, manage)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
