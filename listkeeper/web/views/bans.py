"""The owners' page for a list's bans (and, for site admins, site-wide bans)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from listkeeper.lists import bans, permissions, services
from listkeeper.lists.models import Ban, MailingList
from listkeeper.web.access import actor, managed_list


class BanForm(forms.Form):
    pattern = forms.CharField(
        label=gettext_lazy("Address or pattern"),
        max_length=254,
        help_text=gettext_lazy("bob@example.org or *@spam.example"),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason (optional)"), max_length=300, required=False
    )
    site_wide = forms.BooleanField(
        label=gettext_lazy("Ban from every list on this site"), required=False
    )

    def clean_pattern(self) -> str:
        try:
            return bans.clean_pattern(self.cleaned_data["pattern"])
        except bans.BadPattern as exc:
            raise forms.ValidationError(str(exc)) from None


@login_required
@require_http_methods(["GET", "POST"])
def list_bans(request: HttpRequest, list_id: int) -> HttpResponse:
    ml = managed_list(request, list_id)
    site_admin = permissions.is_site_admin(request.user)
    who = actor(request)
    form = BanForm(request.POST if request.method == "POST" else None)
    if not site_admin:
        del form.fields["site_wide"]
    if request.method == "POST":
        if "remove" in request.POST:
            _remove(request, ml, request.POST["remove"], who, site_admin)
            return redirect(request.path)
        if form.is_valid():
            site_wide = form.cleaned_data.get("site_wide", False)
            ban = services.add_ban(
                None if site_wide else ml,
                form.cleaned_data["pattern"],
                actor=who,
                reason=form.cleaned_data["reason"],
            )
            messages.success(request, _("Banned %(pattern)s.") % {"pattern": ban.pattern})
            return redirect(request.path)
    ctx = {
        "list": ml,
        "form": form,
        "bans": Ban.objects.filter(Q(mailing_list=ml) | Q(mailing_list__isnull=True)).order_by(
            "mailing_list", "pattern"
        ),
        "site_admin": site_admin,
    }
    return render(request, "web/lists/bans.html", ctx, status=400 if form.errors else 200)


def _remove(
    request: HttpRequest, ml: MailingList, ban_id: str, actor: str, site_admin: bool
) -> None:
    scope = Q(mailing_list=ml) | (Q(mailing_list__isnull=True) if site_admin else Q(pk__in=[]))
    ban = Ban.objects.filter(scope, id=int(ban_id) if ban_id.isdigit() else 0).first()
    if ban is None:
        messages.error(request, _("That ban does not exist (any more) or is not yours to lift."))
        return
    services.remove_ban(ban, actor=actor)
    messages.success(request, _("Lifted the ban on %(pattern)s.") % {"pattern": ban.pattern})
