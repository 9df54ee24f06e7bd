from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from listkeeper.feedback import chart, figures
from listkeeper.lists import services
from listkeeper.lists.models import (
    InboundKind,
    InboundMessage,
    MailingList,
    PostStatus,
    Status,
    Subscription,
)
from listkeeper.lists.permissions import can_manage

UNPROVEN_SHOWN = 50


def _managed_list(request: HttpRequest, list_id: int) -> MailingList:
    ml = get_object_or_404(MailingList, id=list_id)
    if not can_manage(request.user, ml):
        raise Http404("no such list")  # do not reveal lists to people who cannot manage them
    return ml


def deliverability(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = _managed_list(request, list_id)
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


@require_POST
def re_enable(request: HttpRequest, list_id: int, subscription_id: int) -> HttpResponse:
    ml = _managed_list(request, list_id)
    sub = get_object_or_404(
        Subscription.objects.select_related("member"), id=subscription_id, mailing_list=ml
    )
    if sub.status == Status.DISABLED:
        services.set_status(
            sub, Status.ACTIVE, actor=request.user.email or request.user.get_username()
        )
        messages.success(request, f"Delivery to {sub.member.email} is enabled again.")
    return redirect("deliverability", list_id=ml.id)
