"""The list owner's deliverability page, included under /lists/ by listkeeper/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from listkeeper.feedback import web_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("<int:list_id>/deliverability/", web_views.deliverability, name="deliverability"),
    path(
        "<int:list_id>/deliverability/re-enable/<int:subscription_id>/",
        web_views.re_enable,
        name="deliverability-re-enable",
    ),
]
