from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from listkeeper.delivery import quota
from listkeeper.delivery.models import Delivery, JobState
from listkeeper.feedback import figures
from listkeeper.lists import permissions
from listkeeper.lists.models import MailingList, Role, Status, Subscription
from listkeeper.mail.models import Post, PostStatus

# Rates are worked out per list (two queries each); beyond this many lists the
# dashboard checks the first ones and the deliverability pages have the rest.
RATE_CHECK_LISTS = 50


def held_url(list_id: int) -> str:
    return reverse("held_posts", args=[list_id])


def attention(
    user: object,
    lists: list[MailingList],
    held: dict[int, int],
    managed_ids: set[int],
    ses_held: int = 0,
    ses: quota.Standing | None = None,
) -> list[dict[str, object]]:
    """What needs someone now, most urgent first: held posts, then bounce-rate warnings.

    Lists without an owner are listed beside these (the template's `ownerless`).
    """
    items: list[dict[str, object]] = []
    by_id = {ml.id: ml for ml in lists}
    for list_id, n in sorted(held.items(), key=lambda kv: -kv[1]):
        ml = by_id[list_id]
        items.append(
            {
                "kind": "warn",
                "text": ngettext(
                    "%(count)s held post waits on %(list)s for a moderator",
                    "%(count)s held posts wait on %(list)s for a moderator",
                    n,
                )
                % {"count": n, "list": ml.address},
                "url": held_url(ml.id),
                "action": _("Review"),
            }
        )
    if ses_held and ses is not None:
        items.append(
            {
                "kind": "warn",
                "text": ngettext(
                    "%(count)s copy waits for SES's 24-hour quota (%(used)s of %(quota)s sent "
                    "in the last 24 hours): it goes out as SES's rolling window frees; none "
                    "is dropped",
                    "%(count)s copies wait for SES's 24-hour quota (%(used)s of %(quota)s sent "
                    "in the last 24 hours): they go out as SES's rolling window frees; none "
                    "is dropped",
                    ses_held,
                )
                % {"count": ses_held, "used": ses.used, "quota": int(ses.quota.max_24h_send)},
                "url": "",
                "action": "",
            }
        )
    busiest = sorted((ml for ml in lists if ml.id in managed_ids), key=lambda ml: ml.id)
    for ml in busiest[:RATE_CHECK_LISTS]:
        rates = figures.list_rates(ml, 30)
        if rates.bounce_warning or rates.complaint_warning:
            what = []
            if rates.bounce_warning:
                what.append(_("%(rate).1f%% hard bounces") % {"rate": rates.bounce_rate * 100})
            if rates.complaint_warning:
                what.append(_("%(rate).2f%% complaints") % {"rate": rates.complaint_rate * 100})
            items.append(
                {
                    "kind": "danger",
                    "text": _(
                        "%(list)s: %(what)s in 30 days, above the rate at which SES reviews the account"
                    )
                    % {"list": ml.address, "what": _(" and ").join(what)},
                    "url": reverse("list_deliverability", args=[ml.id]),
                    "action": _("See deliverability"),
                }
            )
    return items


def list_rows(user: Any) -> list[dict[str, Any]]:
    """The lists this user moderates, each with its active members and held posts.

    One grouped query each instead of a COUNT per list.
    """
    managed_ids = set(permissions.managed_lists(user).values_list("id", flat=True))
    lists = list(permissions.moderated_lists(user).order_by("domain", "local_part"))
    ids = [ml.id for ml in lists]
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
    return [
        {
            "list": ml,
            "active": counts.get(ml.id, 0),
            "held": held.get(ml.id, 0),
            "held_url": held_url(ml.id),
            "manage": ml.id in managed_ids,
        }
        for ml in lists
    ]


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    rows = list_rows(user)
    lists = [row["list"] for row in rows]
    ids = [ml.id for ml in lists]
    managed_ids = {row["list"].id for row in rows if row["manage"]}
    held = {row["list"].id: row["held"] for row in rows if row["held"]}
    posts = (
        Post.objects.filter(mailing_list_id__in=ids)
        .select_related("mailing_list")
        .defer("raw")
        .order_by("-received", "-id")[:15]
    )
    fanouts = list(
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
    # SES's quota is the account's: an owner hears of it when their posts are
    # among those waiting, a site admin always.
    ses = quota.overview()
    ses_held = ses.standing.held if ses.standing is not None else 0
    if not (fanouts or permissions.is_site_admin(user)):
        ses_held = 0
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
            "active_total": sum(row["active"] for row in rows),
            "attention": attention(user, lists, held, managed_ids, ses_held, ses.standing),
            "ses": ses,
            "posts": posts,
            "fanouts": fanouts,
            "bounced": bounced,
            "ownerless": ownerless,
            "is_admin": permissions.is_site_admin(user),
        },
    )
