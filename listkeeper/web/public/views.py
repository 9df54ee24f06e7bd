"""Public pages; thin views over flows.py. No sign-in anywhere here: signed
links in mail prove the address."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from listkeeper.archive.access import remember_member
from listkeeper.lists import services
from listkeeper.lists.models import DeliveryMode, MailingList, Status
from listkeeper.web.public import flows, throttle
from listkeeper.web.public.forms import AddressForm, ManageActionForm, SubscribeForm


def _bad_link(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "public/bad_link.html", {"message": message}, status=400)


def _throttled(request: HttpRequest) -> HttpResponse:
    return render(request, "public/throttled.html", status=429)


@require_http_methods(["GET", "POST"])
def list_page(request: HttpRequest, address: str) -> HttpResponse:
    ml = flows.public_list(address)
    if ml is None:
        raise Http404("No such public list")
    form = SubscribeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not throttle.allow_client(request):
            return _throttled(request)
        if form.is_valid():
            flows.request_subscription(ml, form.cleaned_data["address"], form.cleaned_data["name"])
            # The same page whatever the address's state: no enumeration.
            return render(request, "public/requested.html", {"list": ml})
    status = 400 if form.is_bound else 200
    return render(request, "public/list.html", {"list": ml, "form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        ml, email = flows.read_confirm(token)
    except flows.LinkError as exc:
        return _bad_link(request, str(exc))
    ctx = {"list": ml, "address": email}
    if request.method == "GET":
        if flows.is_subscribed(ml, email):
            # A link used before: nothing left to confirm, so no button offering it.
            return render(request, "public/confirmed.html", {**ctx, "already": True})
        # Mail scanners follow links: only the button's POST subscribes.
        return render(request, "public/confirm.html", ctx)
    try:
        result = flows.confirm(ml, email)
    except services.Banned:
        return render(request, "public/refused.html", ctx, status=403)
    return render(request, "public/confirmed.html", {**ctx, "already": not result.changed})


@csrf_exempt  # RFC 8058: mail clients POST without a session or CSRF token.
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        target = flows.read_unsubscribe(token)
    except flows.LinkError as exc:
        return _bad_link(request, str(exc))
    sub = target.subscription
    ctx = {"list": target.mailing_list, "subscription": sub, "token": token}
    if request.method == "GET":
        # Never unsubscribes: link scanners fetch every URL in a message.
        return render(request, "public/unsubscribe.html", ctx)
    # Any POST is the one-click (body List-Unsubscribe=One-Click) or our button.
    if sub is not None:
        flows.leave(sub, reason="one-click" if _is_one_click(request) else "web")
    return render(request, "public/unsubscribed.html", ctx)


def _is_one_click(request: HttpRequest) -> bool:
    return request.POST.get("List-Unsubscribe") == "One-Click"


@require_http_methods(["GET", "POST"])
def manage_request(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not throttle.allow_client(request):
            return _throttled(request)
        if form.is_valid():
            flows.request_manage_link(form.cleaned_data["address"])
            return render(request, "public/manage_sent.html")
    status = 400 if form.is_bound else 200
    return render(request, "public/manage_request.html", {"form": form}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        email = flows.read_manage(token)
    except flows.LinkError as exc:
        return _bad_link(request, str(exc))
    # The link proves the address: it also opens the archives of this person's lists.
    remember_member(request, email)
    if request.method == "POST":
        form = ManageActionForm(request.POST)
        if not form.is_valid():
            return render(request, "public/bad_request.html", status=400)
        _manage_action(request, email, form.cleaned_data)
        return redirect(request.path)
    return render(
        request,
        "public/manage.html",
        {
            "overview": flows.overview(email),
            "token": token,
            "member_language": flows.member_language(email),
        },
    )


def _manage_action(request: HttpRequest, email: str, data: dict) -> None:
    list_id, action = data["list"], data["action"]
    if action == "language":
        flows.set_language(email, data["language"])
        messages.success(request, _("Saved: we write to you in the language you chose."))
        return
    if action == "join":
        target = flows.joinable_lists().filter(id=list_id).first()
        if target is None:
            messages.error(request, _("That list is not open for joining."))
            return
        try:
            flows.join_verified(target, email)
        except services.Banned:
            messages.error(request, _("You cannot join %(list)s.") % {"list": target.name})
            return
        messages.success(request, _("You have joined %(list)s.") % {"list": target.name})
        return
    sub = flows.own_subscription(email, list_id)
    if sub is None:
        messages.error(request, _("You are not on that list."))
        return
    ml: MailingList = sub.mailing_list
    if action == "leave":
        flows.leave(sub, reason="manage page")
        messages.success(request, _("You have left %(list)s.") % {"list": ml.name})
    elif action == "delivery" and data.get("delivery"):
        if sub.status == Status.UNSUBSCRIBED:
            messages.error(
                request, _("You are not on %(list)s; join it first.") % {"list": ml.name}
            )
            return
        try:
            when = services.set_delivery(sub, data["delivery"], actor=flows.ACTOR)
        except services.ServiceError as exc:
            messages.error(request, f"{exc}.")
            return
        messages.success(request, _delivery_message(ml, data["delivery"], when))
    else:
        messages.error(request, _("Choose each post, a digest or no mail."))


def _delivery_message(ml: MailingList, delivery: str, when: str) -> str:
    names = {"list": ml.name}
    if delivery == DeliveryMode.NOMAIL:
        return _("You stay on %(list)s but get no mail from it.") % names
    if when == "next-digest":
        # docs/digests.md: the switch waits for the next issue, so no post comes twice.
        later: dict[str, str] = {
            DeliveryMode.REGULAR: _(
                "You will get each post of %(list)s from its next digest on; "
                "until then nothing changes."
            ),
            DeliveryMode.DIGEST: _(
                "You will get %(list)s as a digest from its next digest on; "
                "until then nothing changes."
            ),
            DeliveryMode.DIGEST_PLAIN: _(
                "You will get %(list)s as a plain-text digest from its next digest on; "
                "until then nothing changes."
            ),
        }
        return later[delivery] % names
    now: dict[str, str] = {
        DeliveryMode.REGULAR: _("You will get the mail of %(list)s again."),
        DeliveryMode.DIGEST: _("You will get %(list)s as a digest."),
        DeliveryMode.DIGEST_PLAIN: _("You will get %(list)s as a plain-text digest."),
    }
    return now[delivery] % names
