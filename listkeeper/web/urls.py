from django.urls import path

from listkeeper.web import views
from listkeeper.web.views import (
    audit,
    bulk,
    dashboard,
    digests,
    export,
    lists,
    members,
    people,
    users,
)
from listkeeper.web.views.auth import urlpatterns_auth

urlpatterns = [
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
