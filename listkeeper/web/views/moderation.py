"""The held-posts queue: moderators see, preview and decide on held posts.

Decisions go through mail/process.py, which delivers, notifies and logs.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from listkeeper.lists import permissions
from listkeeper.lists.models import MailingList
from listkeeper.mail import process
from listkeeper.mail.models import Post, PostStatus
from listkeeper.mail.moderation import ModerationError
from listkeeper.mail.preview import preview
from listkeeper.web.access import actor, moderated_list

# What the moderator is told: for one post (by subject) and for several.
ACTIONS = {
    "approve": (gettext_lazy("“%(subject)s” approved."), gettext_lazy("%(count)s posts approved.")),
    "approve_always": (
        gettext_lazy("“%(subject)s” approved (sender always allowed from now on)."),
        gettext_lazy("%(count)s posts approved (sender always allowed from now on)."),
    ),
    "reject": (gettext_lazy("“%(subject)s” rejected."), gettext_lazy("%(count)s posts rejected.")),
    "discard": (
        gettext_lazy("“%(subject)s” discarded."),
        gettext_lazy("%(count)s posts discarded."),
    ),
}

# The preview shows mail from strangers: even after sanitising, let the
# browser load nothing from elsewhere and run no inline code.
PREVIEW_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _held(ml: MailingList) -> QuerySet[Post]:
    return Post.objects.filter(mailing_list=ml, status=PostStatus.HELD).defer("raw")


@login_required
@require_http_methods(["GET", "POST"])
def queue(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = moderated_list(request, list_id)
    if request.method == "POST":
        _decide_selected(request, ml)
        return HttpResponseRedirect(reverse("held_posts", args=[ml.id]))
    posts = _held(ml).order_by("received", "id")
    return render(
        request,
        "moderation/queue.html",
        {"list": ml, "posts": posts, "can_manage": permissions.can_manage(request.user, ml)},
    )


@login_required
@require_http_methods(["GET"])
def held_post(request: HttpRequest, list_id: int, post_id: int) -> HttpResponse:
    ml = moderated_list(request, list_id)
    post = Post.objects.filter(mailing_list=ml, id=post_id).first()
    if post is None:
        raise Http404("No such post")
    response = render(
        request,
        "moderation/post.html",
        {
            "list": ml,
            "post": post,
            "preview": preview(bytes(post.raw)),
            "can_manage": permissions.can_manage(request.user, ml),
        },
    )
    response["Content-Security-Policy"] = PREVIEW_CSP
    return response


def _decide_selected(request: HttpRequest, ml: MailingList) -> None:
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, _("Choose approve, reject or discard."))
        return
    ids = [int(i) for i in request.POST.getlist("post") if i.isdigit()]
    if not ids:
        messages.error(request, _("Select at least one post first."))
        return
    reason = request.POST.get("reason", "").strip()[:1000]
    who = actor(request)
    done: list[str] = []
    gone = 0
    for post in Post.objects.filter(mailing_list=ml, id__in=ids).order_by("received", "id"):
        if post.status != PostStatus.HELD:
            gone += 1  # another moderator, or expiry, got there first
            continue
        try:
            if action == "approve":
                process.approve(post, who)
            elif action == "approve_always":
                process.approve(post, who, always_allow=True)
            elif action == "reject":
                process.reject(post, who, reason=reason)
            else:
                process.discard(post, who)
        except ModerationError as exc:
            messages.error(request, f"“{post.subject or _('(no subject)')}”: {exc}")
            continue
        done.append(post.subject or _("(no subject)"))
    if done:
        one, many = ACTIONS[action]
        text = one if len(done) == 1 else many
        messages.success(request, str(text) % {"subject": done[0], "count": len(done)})
    if gone:
        messages.warning(
            request,
            _(
                "%(count)s of the selected posts had already been decided; they were left as they were."
            )
            % {"count": gone},
        )
