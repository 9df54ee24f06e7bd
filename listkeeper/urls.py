from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("django-admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the pages' <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("listkeeper/favicon.svg"), permanent=True)),
    path("api/", include("listkeeper.api.urls")),
    path("hooks/", include("listkeeper.feedback.urls")),
    path("lists/", include("listkeeper.feedback.web_urls")),
    path("", include("listkeeper.web.public_urls")),
    path("", include("listkeeper.web.moderation_urls")),
    path("", include("listkeeper.web.urls")),
    path("", include("listkeeper.web.health")),
]
