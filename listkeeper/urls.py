from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from listkeeper.web import health, metrics

urlpatterns: list[URLPattern | URLResolver] = [
    path("django-admin/", admin.site.urls),
    path("api/", include("listkeeper.api.urls")),
    path("hooks/", include("listkeeper.feedback.urls")),
    path("archive/", include("listkeeper.archive.urls")),
    path("", include("listkeeper.web.public_urls")),
    path("", include("listkeeper.web.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
]
