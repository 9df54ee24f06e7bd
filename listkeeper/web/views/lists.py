"""Lists: the index, creating one, its settings, deleting it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from listkeeper.lists import permissions, services
from listkeeper.lists.models import Role, SenderKind, Status
from listkeeper.mail.models import PostStatus
from listkeeper.web.access import actor, managed_list, site_admin_required
from listkeeper.web.forms import LIST_SETTINGS, ListCreateForm, ListSettingsForm
from listkeeper.web.views.dashboard import held_url, list_rows


@login_required
def index(request: HttpRequest) -> HttpResponse:
    # A moderator sees the lists they moderate, with their held posts.
    rows = list_rows(request.user)
    return render(
        request,
        "web/lists/index.html",
        {"rows": rows, "is_admin": permissions.is_site_admin(request.user)},
    )


@site_admin_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    form = ListCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                ml = services.create_list(
                    data["local_part"],
                    settings.LISTKEEPER_DOMAIN,
                    actor=actor(request),
                    display_name=data["display_name"],
                    description=data["description"],
                )
                if data["owner"]:
                    services.subscribe(ml, data["owner"], actor=actor(request), role=Role.OWNER)
        except services.ServiceError as exc:
            form.add_error("local_part", str(exc))
        else:
            messages.success(
                request, _("Created %(list)s. It takes mail now.") % {"list": ml.address}
            )
            return redirect("list_members", ml.id)
    return render(
        request,
        "web/lists/create.html",
        {"form": form, "domain": settings.LISTKEEPER_DOMAIN},
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    senders = {
        kind: "\n".join(
            ml.senders.filter(kind=kind).order_by("key").values_list("email", flat=True)
        )
        for kind in SenderKind.values
    }
    form = ListSettingsForm(
        request.POST or None,
        instance=ml,
        initial={"posters": senders[SenderKind.POSTER], "allowed": senders[SenderKind.ALLOWED]},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        who = actor(request)
        # A fresh copy: the ModelForm has already written the new values onto `ml`.
        fresh = type(ml).objects.get(id=ml.id)
        with transaction.atomic():
            services.update_list(fresh, actor=who, **{name: data[name] for name in LIST_SETTINGS})
            services.set_senders(fresh, SenderKind.POSTER, data["posters"], actor=who)
            services.set_senders(fresh, SenderKind.ALLOWED, data["allowed"], actor=who)
        messages.success(request, _("Saved the settings of %(list)s.") % {"list": fresh.address})
        return redirect("list_edit", ml.id)
    return render(
        request,
        "web/lists/edit.html",
        {
            "ml": ml,
            "form": form,
            "held_url": held_url(ml.id),
            "is_admin": permissions.is_site_admin(request.user),
        },
    )


@site_admin_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    if request.method == "POST":
        typed = request.POST.get("confirm", "").strip().lower()
        if typed == ml.address:
            services.delete_list(ml, actor=actor(request))
            messages.success(request, _("Deleted %(list)s.") % {"list": ml.address})
            return redirect("lists")
        messages.error(
            request,
            _("Nothing was deleted: type the list's address %(list)s exactly to confirm.")
            % {"list": ml.address},
        )
    by_status = dict(ml.subscriptions.values_list("status").annotate(n=Count("id")).order_by())
    return render(
        request,
        "web/lists/delete.html",
        {
            "ml": ml,
            "subscriptions": sum(by_status.values()),
            "active": by_status.get(Status.ACTIVE, 0),
            "posts": ml.posts.count(),
            "held": ml.posts.filter(status=PostStatus.HELD).count(),
        },
    )
