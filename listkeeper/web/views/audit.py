"""The audit log: every change, who made it and when; filtered by list, member, user."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from listkeeper.lists import permissions
from listkeeper.lists.models import AuditEntry
from listkeeper.web.access import visible_members
from listkeeper.web.paging import paginate


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    admin = permissions.is_site_admin(request.user)
    lists = permissions.managed_lists(request.user).order_by("local_part")
    qs = AuditEntry.objects.select_related("mailing_list", "member")
    if not admin:
        # Owners see what happened on their lists, nothing site-wide.
        qs = qs.filter(mailing_list__in=lists)

    list_id = _int(request.GET.get("list"))
    if list_id is not None:
        qs = qs.filter(mailing_list_id=list_id)
    member_id = _int(request.GET.get("member"))
    member = visible_members(request).filter(id=member_id).first() if member_id else None
    if member_id is not None:
        qs = qs.filter(member_id=member.id if member else -1)
    who = request.GET.get("actor", "").strip()
    if who:
        qs = qs.filter(actor__icontains=who)
    action = request.GET.get("action", "").strip()
    if action:
        qs = qs.filter(Q(action=action) | Q(action__startswith=f"{action}."))

    page = paginate(qs, ("-created", "-id"), request.GET, per_page=100)
    return render(
        request,
        "web/audit/log.html",
        {
            "page": page,
            "lists": lists,
            "list_id": list_id,
            "member": member,
            "actor": who,
            "action": action,
        },
    )
