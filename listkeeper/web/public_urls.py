"""Pages for members and the public (subscribe, confirm, unsubscribe, manage).

The paths are fixed: lib/links.py builds them into mail.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from listkeeper.web.public import views

app_name = "public"

urlpatterns: list[URLPattern | URLResolver] = [
    path("l/<str:address>/", views.list_page, name="list"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("manage/", views.manage_request, name="manage_request"),
    path("manage/<str:token>/", views.manage, name="manage"),
]
