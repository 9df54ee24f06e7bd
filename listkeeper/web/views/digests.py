"""A list's digests for its owners: what is pending, the last issues, send now."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from listkeeper.delivery import digests
from listkeeper.delivery.models import DigestIssue, RecipientState
from listkeeper.lists.models import DIGEST_MODES, DeliveryMode, Status, Subscription
from listkeeper.web.access import actor, managed_list

LAST_ISSUES = 10


@login_required
@require_http_methods(["GET", "POST"])
def digest_page(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    if request.method == "POST":
        issue = digests.cut(ml, actor=actor(request))
        if issue is None:
            messages.info(request, _("No posts are waiting for the digest: nothing was sent."))
        else:
            messages.success(
                request,
                _("%(issue)s: %(posts)s post(s) queued for %(members)s member(s).")
                % {"issue": issue, "posts": issue.posts, "members": issue.recipients},
            )
        return redirect("list_digests", ml.id)
    pending = digests.pending(ml)
    issues = list(
        DigestIssue.objects.filter(mailing_list=ml)
        .annotate(
            handed_off=Count(
                "deliveries__recipients",
                filter=Q(deliveries__recipients__state=RecipientState.SENT),
            )
        )
        .order_by("-id")[:LAST_ISSUES]
    )
    readers = dict(
        Subscription.objects.filter(
            mailing_list=ml, status=Status.ACTIVE, delivery__in=DIGEST_MODES
        )
        .values_list("delivery")
        .annotate(n=Count("id"))
        .values_list("delivery", "n")
    )
    now = timezone.now()
    context = {
        "ml": ml,
        "pending": pending,
        "pending_size": sum(e.size for e in pending),
        "due": digests.why_due(ml, now),
        "next_at": digests.next_scheduled(ml, now),
        "issues": issues,
        "readers_mime": readers.get(DeliveryMode.DIGEST, 0),
        "readers_plain": readers.get(DeliveryMode.DIGEST_PLAIN, 0),
    }
    return render(request, "web/lists/digests.html", context)
