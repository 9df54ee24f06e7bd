from __future__ import annotations

from django.urls import path

from listkeeper.web import moderation

urlpatterns = [
    path("lists/<int:list_id>/held/", moderation.queue, name="held-posts"),
    path("lists/<int:list_id>/held/<int:post_id>/", moderation.held_post, name="held-post"),
]
