"""Archive URLs name a list by its List-Id (NAME.DOMAIN): no "@" anywhere.

lib/links.py builds the permalink and List-Archive URLs into mail; keep them in step.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from listkeeper.archive import views

app_name = "archive"

urlpatterns: list[URLPattern] = [
    path("", views.lists, name="lists"),
    path("<str:list_id>/", views.index, name="index"),
    path("<str:list_id>/feed.atom", views.feed, name="feed"),
    path("<str:list_id>/<int:year>/<int:month>/", views.month, name="month"),
    path("<str:list_id>/<int:year>/<int:month>/mbox", views.month_mbox, name="mbox"),
    path("<str:list_id>/t/<str:slug>/", views.thread, name="thread"),
    path("<str:list_id>/m/<str:slug>/", views.message, name="message"),
    path("<str:list_id>/m/<str:slug>/delete/", views.delete, name="delete"),
    path(
        "<str:list_id>/m/<str:slug>/attachments/<int:part>/<str:filename>",
        views.attachment,
        name="attachment",
    ),
]
