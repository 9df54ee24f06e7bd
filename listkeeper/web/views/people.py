"""A member as a person: every list they are on, and changes to the person."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from listkeeper.archive import store as archive_store
from listkeeper.lists import permissions, services
from listkeeper.lists.models import Role, Status, Subscription
from listkeeper.web.access import (
    actor,
    can_edit_person,
    managed_list,
    managed_list_ids,
    visible_member,
    visible_members,
)
from listkeeper.web.forms import ChangeAddressForm, MemberNameForm, SubscriptionForm
from listkeeper.web.paging import paginate, paginate_matches


@login_required
def index(request: HttpRequest) -> HttpResponse:
    qs = visible_members(request)
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(Q(key__contains=q.lower()) | Q(name__icontains=q))
        page = paginate_matches(qs, ("key",), request.GET)
    else:
        page = paginate(qs, ("key",), request.GET)
    # Lists per member for this page only: one grouped query, not one per row.
    ids = [m.id for m in page.items]
    subs = Subscription.objects.filter(member_id__in=ids, status=Status.ACTIVE)
    if not permissions.is_site_admin(request.user):
        subs = subs.filter(mailing_list_id__in=managed_list_ids(request))
    counts = dict(subs.values_list("member_id").annotate(n=Count("id")).order_by())
    rows = [{"member": m, "lists": counts.get(m.id, 0)} for m in page.items]
    return render(request, "web/members/index.html", {"page": page, "rows": rows, "q": q})


@login_required
def detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = visible_member(request, member_id)
    admin = permissions.is_site_admin(request.user)
    managed = set(managed_list_ids(request))
    subs = list(
        member.subscriptions.select_related("mailing_list").order_by("mailing_list__local_part")
    )
    mine = [s for s in subs if admin or s.mailing_list_id in managed]
    others = len(subs) - len(mine)
    on = {s.mailing_list_id for s in subs if s.status == Status.ACTIVE}
    joinable = permissions.managed_lists(request.user).exclude(id__in=on).order_by("local_part")
    forms = [
        (
            s,
            SubscriptionForm(
                initial={
                    "role": s.role,
                    # A waiting switch shows as chosen, so saving keeps it.
                    "delivery": s.delivery_next or s.delivery,
                    "status": s.status,
                },
                auto_id=f"s{s.id}_%s",
            ),
        )
        for s in mine
    ]
    return render(
        request,
        "web/members/detail.html",
        {
            "member": member,
            "forms": forms,
            "others": others,
            "joinable": joinable,
            "roles": Role.choices,
            "editable": can_edit_person(request, member),
            "name_form": MemberNameForm(initial={"name": member.name}),
            "address_form": ChangeAddressForm(initial={"address": member.email}),
        },
    )


@login_required
@require_POST
def join(request: HttpRequest, member_id: int) -> HttpResponse:
    member = visible_member(request, member_id)
    try:
        ml = managed_list(request, int(request.POST.get("list", "")))
    except ValueError:
        raise Http404("No such list") from None
    role = request.POST.get("role", Role.MEMBER)
    if role not in Role.values:
        role = Role.MEMBER
    result = services.subscribe(ml, member.email, actor=actor(request), role=role)
    if result.changed:
        messages.success(
            request,
            _("%(address)s is now on %(list)s.") % {"address": member.email, "list": ml.address},
        )
    else:
        messages.info(
            request,
            _("%(address)s is already a member of %(list)s; nothing changed.")
            % {"address": member.email, "list": ml.address},
        )
    return redirect("member", member.id)


def _subscription(request: HttpRequest, member_id: int, sub_id: int) -> Subscription:
    member = visible_member(request, member_id)
    sub = (
        Subscription.objects.filter(id=sub_id, member=member)
        .select_related("member", "mailing_list")
        .first()
    )
    if sub is None:
        raise Http404("No such subscription")
    managed_list(request, sub.mailing_list_id)  # 404 unless the user manages that list
    return sub


@login_required
@require_POST
def update_subscription(request: HttpRequest, member_id: int, sub_id: int) -> HttpResponse:
    sub = _subscription(request, member_id, sub_id)
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role, a delivery mode and a status from the lists."))
        return redirect("member", member_id)
    who = actor(request)
    data = form.cleaned_data
    services.set_role(sub, data["role"], actor=who)
    try:
        services.set_delivery(sub, data["delivery"], actor=who)
    except services.ServiceError as exc:
        messages.error(request, f"{exc}.")
        return redirect("member", member_id)
    if data["status"] != sub.status:
        if data["status"] == Status.UNSUBSCRIBED:
            services.unsubscribe(sub, actor=who, reason="changed by an owner")
        else:
            services.set_status(sub, data["status"], actor=who)
    messages.success(
        request,
        _("Saved %(address)s on %(list)s.")
        % {"address": sub.member.email, "list": sub.mailing_list.address},
    )
    return redirect("member", member_id)


@login_required
@require_POST
def remove_subscription(request: HttpRequest, member_id: int, sub_id: int) -> HttpResponse:
    sub = _subscription(request, member_id, sub_id)
    services.remove(sub, actor=actor(request))
    messages.success(
        request,
        _("Removed %(address)s from %(list)s.")
        % {"address": sub.member.email, "list": sub.mailing_list.address},
    )
    if not visible_members(request).filter(id=member_id).exists():
        return redirect("list_members", sub.mailing_list_id)
    return redirect("member", member_id)


def _editable_member(request: HttpRequest, member_id: int):  # noqa: ANN202
    member = visible_member(request, member_id)
    if not can_edit_person(request, member):
        # Visible, but on lists of other owners too: only a site admin may change the person.
        messages.error(
            request,
            _(
                "%(address)s is also on lists you do not manage; ask a site admin to change this person."
            )
            % {"address": member.email},
        )
        return member, False
    return member, True


@login_required
@require_POST
def rename(request: HttpRequest, member_id: int) -> HttpResponse:
    member, ok = _editable_member(request, member_id)
    form = MemberNameForm(request.POST)
    if ok and form.is_valid():
        services.rename_member(member, form.cleaned_data["name"].strip(), actor=actor(request))
        messages.success(request, _("Saved the name."))
    return redirect("member", member.id)


@login_required
@require_POST
def change_address(request: HttpRequest, member_id: int) -> HttpResponse:
    member, ok = _editable_member(request, member_id)
    if not ok:
        return redirect("member", member.id)
    form = ChangeAddressForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("address", []):
            messages.error(request, str(error))
        return redirect("member", member.id)
    new = form.cleaned_data["address"]
    old = member.email
    kept = services.change_address(member, new.email, actor=actor(request))
    if kept.id != member.id:
        messages.success(
            request,
            _("%(new)s was already a member; merged %(old)s into it.")
            % {"new": new.email, "old": old},
        )
    else:
        messages.success(
            request, _("Changed %(old)s to %(new)s.") % {"old": old, "new": kept.email}
        )
    return redirect("member", kept.id)


@login_required
@require_http_methods(["GET", "POST"])
def erase(request: HttpRequest, member_id: int) -> HttpResponse:
    member, ok = _editable_member(request, member_id)
    if not ok:
        return redirect("member", member.id)
    # Their archived posts go too if asked, on the lists this user manages.
    archive_lists = None if permissions.is_site_admin(request.user) else managed_list_ids(request)
    if request.method == "POST":
        email = member.email
        with transaction.atomic():
            removed = (
                archive_store.delete_by_author(email, archive_lists, actor=actor(request))
                if request.POST.get("archive") == "remove"
                else 0
            )
            services.erase_member(member, actor=actor(request))
        messages.success(
            request,
            _("Erased %(address)s: they are on no list and the log no longer names them.")
            % {"address": email}
            + (
                " " + _("%(count)s archived message(s) removed.") % {"count": removed}
                if removed
                else ""
            ),
        )
        return redirect("members")
    subs = member.subscriptions.select_related("mailing_list")
    archived = archive_store.count_by_author(member.email, archive_lists)
    return render(
        request, "web/members/erase.html", {"member": member, "subs": subs, "archived": archived}
    )
