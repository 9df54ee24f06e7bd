from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView

from listkeeper.web import health, metrics

urlpatterns: list[URLPattern | URLResolver] = [
    path("django-admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the pages' <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("listkeeper/favicon.svg"), permanent=True)),
    # The language switch in the footer (Django's set_language view).
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("listkeeper.api.urls")),
    path("hooks/", include("listkeeper.feedback.urls")),
    path("archive/", include("listkeeper.archive.urls")),
    path("", include("listkeeper.web.public_urls")),
    path("", include("listkeeper.web.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
]
