from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from listkeeper.delivery.models import Delivery, JobState
from listkeeper.lists import permissions
from listkeeper.lists.models import Post, PostStatus, Role, Status, Subscription


def held_url(list_id: int) -> str:
    return reverse("held_posts", args=[list_id])


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    managed_ids = set(permissions.managed_lists(user).values_list("id", flat=True))
    lists = list(permissions.moderated_lists(user).order_by("domain", "local_part"))
    ids = [ml.id for ml in lists]

    # One grouped query each instead of a COUNT per list.
    counts = dict(
        Subscription.objects.filter(mailing_list_id__in=ids, status=Status.ACTIVE)
        .values_list("mailing_list_id")
        .annotate(n=Count("id"))
    )
    held = dict(
        Post.objects.filter(mailing_list_id__in=ids, status=PostStatus.HELD)
        .values_list("mailing_list_id")
        .annotate(n=Count("id"))
    )
    rows = [
        {
            "list": ml,
            "active": counts.get(ml.id, 0),
            "held": held.get(ml.id, 0),
            "held_url": held_url(ml.id),
            "manage": ml.id in managed_ids,
        }
        for ml in lists
    ]
    posts = (
        Post.objects.filter(mailing_list_id__in=ids)
        .select_related("mailing_list")
        .defer("raw")
        .order_by("-received", "-id")[:15]
    )
    fanouts = (
        Delivery.objects.filter(
            Q(state__in=[JobState.PENDING, JobState.RUNNING]),
            post__mailing_list_id__in=ids,
        )
        .select_related("post__mailing_list")
        .defer("message", "post__raw")
        .order_by("id")[:20]
    )
    # Held-post notices for these go to the site admins: say so, and how to fix it.
    owned = set(
        Subscription.objects.filter(mailing_list_id__in=ids, role=Role.OWNER)
        .exclude(status=Status.UNSUBSCRIBED)
        .values_list("mailing_list_id", flat=True)
    )
    ownerless = [ml for ml in lists if ml.id not in owned and ml.id in managed_ids]
    bounced = (
        Subscription.objects.filter(mailing_list_id__in=managed_ids, status=Status.DISABLED)
        .select_related("member", "mailing_list")
        .order_by("-updated")[:15]
    )
    return render(
        request,
        "web/dashboard.html",
        {
            "rows": rows,
            "held_total": sum(held.values()),
            "posts": posts,
            "fanouts": fanouts,
            "bounced": bounced,
            "ownerless": ownerless,
            "is_admin": permissions.is_site_admin(user),
        },
    )
