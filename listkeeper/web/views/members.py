"""A list's members: the table, adding one, acting on a selection."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Role, Status, Subscription
from listkeeper.web.access import actor, managed_list
from listkeeper.web.forms import (
    ACTIONS,
    DESTRUCTIVE_ACTIONS,
    AddMemberForm,
    MemberActionForm,
    MemberFilterForm,
)
from listkeeper.web.paging import Page, paginate, paginate_ids, paginate_matches
from listkeeper.web.views.dashboard import held_url

# Each ordering is served by an index of Subscription and ends in a unique
# column, so paging can read it backwards (see paging.py).
ORDERS: dict[str, tuple[str, ...]] = {
    "email": ("member_key", "id"),
    "-email": ("-member_key", "-id"),
    "-joined": ("-created", "-id"),
    "joined": ("created", "id"),
}


SEARCH_CAP = 5000


def filtered_subscriptions(ml: MailingList, data: dict[str, str]) -> QuerySet[Subscription]:
    qs = Subscription.objects.filter(mailing_list=ml)
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("role"):
        qs = qs.filter(role=data["role"])
    return qs


def search(
    qs: QuerySet[Subscription], q: str, order: tuple[str, ...], params: QueryDict
) -> Page[Subscription]:
    """Members matching `q` in address or name, then their subscriptions.

    Matching members first is one pass over the member table (an index
    search on PostgreSQL); their subscriptions are then looked up by the
    (member, list) unique index and sorted here. Without that, a database
    may walk the list's whole sort index testing each row against the matches.
    """
    matching = Member.objects.filter(Q(key__contains=q.lower()) | Q(name__icontains=q))
    member_ids = list(matching.order_by().values_list("id", flat=True)[: SEARCH_CAP + 1])
    if len(member_ids) > SEARCH_CAP:  # a broad search: let the database order it
        return paginate_matches(
            qs.filter(member_id__in=matching.values("id")),
            order,
            params,
            cap=SEARCH_CAP,
            related=("member",),
        )
    fields = [term.lstrip("-") for term in order]  # every ordering ends in "id"
    rows = list(qs.filter(member_id__in=member_ids).order_by().values_list(*fields))
    rows.sort(reverse=order[0].startswith("-"))
    return paginate_ids(qs, [row[-1] for row in rows], params, related=("member",))


@login_required
def members(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    filters = MemberFilterForm(request.GET, auto_id="f_%s")
    data = filters.cleaned_data if filters.is_valid() else {}
    filtered = any(data.get(k) for k in ("q", "status", "role"))
    qs = filtered_subscriptions(ml, data)
    order = ORDERS.get(data.get("sort") or "email", ORDERS["email"])
    q = (data.get("q") or "").strip()
    if q:
        page = search(qs, q, order, request.GET)
    else:
        page = paginate(qs, order, request.GET, related=("member",))
    return render(
        request,
        "web/members/list.html",
        {
            "ml": ml,
            "page": page,
            "filters": filters,
            "filtered": filtered,
            "add_form": AddMemberForm(auto_id="add_%s"),
            "action_form": MemberActionForm(),
            "held_url": held_url(ml.id),
            "here": request.get_full_path(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def add(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        addr = form.cleaned_data["address"]
        result = services.subscribe(
            ml,
            addr,
            actor=actor(request),
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
        )
        if result.outcome == "created":
            messages.success(
                request,
                _("Added %(address)s to %(list)s.") % {"address": addr.email, "list": ml.address},
            )
        elif result.outcome == "reactivated":
            messages.success(
                request,
                _("%(address)s had left %(list)s; they are a member again.")
                % {"address": addr.email, "list": ml.address},
            )
        else:
            messages.info(
                request,
                _("%(address)s is already a member of %(list)s; nothing changed.")
                % {"address": addr.email, "list": ml.address},
            )
        return redirect("list_members", ml.id)
    return render(request, "web/members/add.html", {"ml": ml, "form": form})


def _back_url(request: HttpRequest, ml: MailingList) -> str:
    """Where to return to: the members page as it was (filter, page), if it is ours."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("list_members", args=[ml.id])


def _back(request: HttpRequest, ml: MailingList) -> HttpResponse:
    return redirect(_back_url(request, ml))


# "All matching" acts in one request; beyond this many, narrow the filter.
MATCHING_CAP = 5000


def matching_subscriptions(ml: MailingList, data: dict[str, str]) -> QuerySet[Subscription]:
    """Every subscription of the list the members page's filter shows (all pages)."""
    qs = filtered_subscriptions(ml, data)
    q = (data.get("q") or "").strip()
    if q:
        qs = qs.filter(
            member_id__in=Member.objects.filter(
                Q(key__contains=q.lower()) | Q(name__icontains=q)
            ).values("id")
        )
    return qs


@login_required
@require_POST
def action(request: HttpRequest, list_id: int) -> HttpResponse:
    """A bulk action: first a confirmation page naming the count and the list, then the change."""
    ml = managed_list(request, list_id)
    form = MemberActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back(request, ml)
    data = form.cleaned_data
    # Only this list's subscriptions: ids of another list's members are ignored.
    if data["scope"] == "matching":
        qs = matching_subscriptions(ml, data)
    else:
        qs = Subscription.objects.filter(mailing_list=ml, id__in=data["selected"])
    qs = qs.select_related("member", "mailing_list").order_by("member_key", "id")
    count = qs.count()
    chosen = data["action"]
    label = dict(ACTIONS)[chosen]
    if count == 0:
        messages.error(request, _("No member matches any more; nothing changed."))
        return _back(request, ml)
    if count > MATCHING_CAP:
        messages.error(
            request,
            _(
                "%(count)s members match; at most %(cap)s can be changed at once. "
                "Narrow the filter and apply it again."
            )
            % {"count": count, "cap": MATCHING_CAP},
        )
        return _back(request, ml)
    if request.POST.get("confirmed") != "yes":
        return render(
            request,
            "web/members/confirm_action.html",
            {
                "ml": ml,
                "form": form,
                "count": count,
                "label": label,
                "destructive": chosen in DESTRUCTIVE_ACTIONS,
                "sample": list(qs[:20]),
                "selected": data["selected"] if data["scope"] != "matching" else [],
                "back": _back_url(request, ml),
            },
        )
    who = actor(request)
    refused, error = 0, ""
    for sub in qs:
        try:
            apply_action(sub, chosen, actor=who)
        except services.ServiceError as exc:
            refused, error = refused + 1, str(exc)
    if refused:
        messages.error(
            request, _("%(count)s not changed: %(error)s.") % {"count": refused, "error": error}
        )
    done = count - refused
    messages.success(
        request,
        ngettext(
            "%(action)s: %(count)s member of %(list)s.",
            "%(action)s: %(count)s members of %(list)s.",
            done,
        )
        % {"action": label, "count": done, "list": ml.address},
    )
    return _back(request, ml)


def apply_action(sub: Subscription, chosen: str, *, actor: str) -> None:
    kind, _sep, value = chosen.partition(":")
    if kind == "remove":
        services.remove(sub, actor=actor)
    elif kind == "unsubscribe":
        services.unsubscribe(sub, actor=actor, reason="removed by an owner")
    elif kind == "activate":
        services.set_status(sub, Status.ACTIVE, actor=actor)
    elif kind == "role" and value in Role.values:
        services.set_role(sub, value, actor=actor)
    elif kind == "delivery":
        services.set_delivery(sub, value, actor=actor)
