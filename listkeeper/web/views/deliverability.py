"""A list's deliverability: sent, bounced and complained figures, and the
subscriptions bounces disabled (with a button to enable each again)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from listkeeper.feedback import chart, figures
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription
from listkeeper.mail.models import InboundKind, InboundMessage, PostStatus
from listkeeper.web.access import actor, managed_list

UNPROVEN_SHOWN = 50


@login_required
@require_GET
def deliverability(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    series = figures.daily_series(ml, 30)
    posts = list(ml.posts.filter(status=PostStatus.ACCEPTED).order_by("-received", "-id")[:20])
    disabled = (
        Subscription.objects.filter(mailing_list=ml, status=Status.DISABLED)
        .select_related("member")
        .order_by("-updated")[:200]
    )
    # Reports that named failed recipients but did not prove themselves: an
    # owner sees them (a forged one is worth knowing about), nothing acts on them.
    unproven = (
        InboundMessage.objects.filter(mailing_list=ml, kind=InboundKind.BOUNCE)
        .exclude(unproven="")
        .only("id", "received", "sender", "recipient", "unproven", "result")
        .order_by("-received", "-id")[:UNPROVEN_SHOWN]
    )
    return render(
        request,
        "feedback/deliverability.html",
        {
            "list": ml,
            "ml": ml,  # for the list's tabs
            "rates": [figures.list_rates(ml, 7), figures.list_rates(ml, 30)],
            "bounce_review": figures.BOUNCE_REVIEW_RATE,
            "complaint_review": figures.COMPLAINT_REVIEW_RATE,
            "charts": [chart.sent_chart(series), chart.problem_chart(series)],
            "legend": chart.LEGEND,
            "series": series,
            "posts": figures.post_figures(posts),
            "disabled": disabled,
            "unproven": unproven,
            "unproven_shown": UNPROVEN_SHOWN,
        },
    )


@login_required
@require_POST
def re_enable(request: HttpRequest, list_id: int, subscription_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    sub = get_object_or_404(
        Subscription.objects.select_related("member"), id=subscription_id, mailing_list=ml
    )
    if sub.status == Status.DISABLED:
        services.set_status(sub, Status.ACTIVE, actor=actor(request))
        messages.success(
            request, _("Delivery to %(address)s is enabled again.") % {"address": sub.member.email}
        )
    return redirect("list_deliverability", list_id=ml.id)
