from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from listkeeper.feedback import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("ses/", views.ses_notification, name="ses-notification"),
]
