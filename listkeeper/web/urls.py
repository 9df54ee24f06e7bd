"""The owners' interface: every page under /lists/<id>/… and the rest of the
signed-in pages, declared here and nowhere else. Names are snake_case.

The public pages (subscribe, confirm, manage) are in public_urls.py: their
paths are built into mail and must not move.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from listkeeper.web import views
from listkeeper.web.views import (
    audit,
    bans,
    bulk,
    dashboard,
    deliverability,
    digests,
    export,
    lists,
    members,
    moderation,
    people,
    users,
)
from listkeeper.web.views.auth import urlpatterns_auth

urlpatterns: list[URLPattern | URLResolver] = [
    path("status/", views.status, name="status"),
    *urlpatterns_auth(),
    path("", dashboard.dashboard, name="dashboard"),
    path("lists/", lists.index, name="lists"),
    path("lists/new/", lists.create, name="list_create"),
    path("lists/<int:list_id>/", members.members, name="list_members"),
    path("lists/<int:list_id>/settings/", lists.edit, name="list_edit"),
    path("lists/<int:list_id>/delete/", lists.delete, name="list_delete"),
    path("lists/<int:list_id>/members/add/", members.add, name="list_member_add"),
    path("lists/<int:list_id>/members/action/", members.action, name="list_member_action"),
    path("lists/<int:list_id>/export.csv", export.list_csv, name="list_export"),
    path("lists/<int:list_id>/digests/", digests.digest_page, name="list_digests"),
    path("lists/<int:list_id>/held/", moderation.queue, name="held_posts"),
    path("lists/<int:list_id>/held/<int:post_id>/", moderation.held_post, name="held_post"),
    path("lists/<int:list_id>/bans/", bans.list_bans, name="list_bans"),
    path(
        "lists/<int:list_id>/deliverability/",
        deliverability.deliverability,
        name="list_deliverability",
    ),
    path(
        "lists/<int:list_id>/deliverability/re-enable/<int:subscription_id>/",
        deliverability.re_enable,
        name="list_deliverability_re_enable",
    ),
    path("members/", people.index, name="members"),
    path("members/export.csv", export.all_csv, name="members_export"),
    path("members/<int:member_id>/", people.detail, name="member"),
    path("members/<int:member_id>/join/", people.join, name="member_join"),
    path("members/<int:member_id>/name/", people.rename, name="member_rename"),
    path("members/<int:member_id>/address/", people.change_address, name="member_address"),
    path("members/<int:member_id>/erase/", people.erase, name="member_erase"),
    path(
        "members/<int:member_id>/subscriptions/<int:sub_id>/",
        people.update_subscription,
        name="member_subscription",
    ),
    path(
        "members/<int:member_id>/subscriptions/<int:sub_id>/remove/",
        people.remove_subscription,
        name="member_subscription_remove",
    ),
    path("bulk/", bulk.new, name="bulk_new"),
    path("bulk/<int:job_id>/", bulk.detail, name="bulk"),
    path("bulk/<int:job_id>/commit/", bulk.commit, name="bulk_commit"),
    path("bulk/<int:job_id>/cancel/", bulk.cancel, name="bulk_cancel"),
    path("audit/", audit.audit_log, name="audit"),
    path("users/", users.index, name="users"),
    path("users/new/", users.create, name="user_create"),
    path("users/<int:user_id>/", users.change, name="user_change"),
]
