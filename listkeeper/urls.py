from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("api/", include("listkeeper.api.urls")),
    path("hooks/", include("listkeeper.feedback.urls")),
    path("archive/", include("listkeeper.archive.urls")),
    path("lists/", include("listkeeper.feedback.web_urls")),
    path("", include("listkeeper.web.public_urls")),
    path("", include("listkeeper.web.moderation_urls")),
    path("", include("listkeeper.web.urls")),
    path("", include("listkeeper.web.health")),
]
