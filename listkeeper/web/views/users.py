"""Site admins manage who may sign in; list roles stay on the lists' members."""

from __future__ import annotations

import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from listkeeper.lib.addresses import Address, address_key
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role, Status
from listkeeper.lists.services import audit
from listkeeper.web.access import actor, site_admin_required
from listkeeper.web.forms import AddressField


class UserForm(forms.Form):
    email = AddressField(label=gettext_lazy("Email"))
    is_superuser = forms.BooleanField(
        label=gettext_lazy("Site admin (may do everything)"), required=False
    )
    owns = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Owner of"),
        queryset=MailingList.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Makes the address an owner-member of these lists."),
    )

    def clean_email(self) -> Address:
        addr = self.cleaned_data["email"]
        if User.objects.filter(username=addr.key).exists():
            raise forms.ValidationError(
                _("%(address)s already has an account.") % {"address": addr.email}
            )
        return addr


def send_password_link(request: HttpRequest, user: User, *, new_account: bool) -> None:
    form = PasswordResetForm({"email": user.email})
    if form.is_valid():
        form.save(
            request=request,
            email_template_name="emails/password_reset.txt",
            subject_template_name="emails/password_reset.subject.txt",
            html_email_template_name="emails/password_reset.html",
            # django-stubs says dict[str, str]; Django hands it to the template as it is.
            extra_email_context={"site_url": settings.SITE_URL, "new_account": new_account},  # type: ignore[dict-item]
        )


def owned_lists(email: str) -> list[MailingList]:
    return list(
        MailingList.objects.filter(
            subscriptions__member__key=address_key(email),
            subscriptions__role=Role.OWNER,
            subscriptions__status=Status.ACTIVE,
        ).order_by("local_part")
    )


@site_admin_required
def index(request: HttpRequest) -> HttpResponse:
    users = [(u, owned_lists(u.email)) for u in User.objects.order_by("username")]
    return render(request, "web/users/index.html", {"users": users})


@site_admin_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        addr = form.cleaned_data["email"]
        who = actor(request)
        with transaction.atomic():
            user = User(
                username=addr.key, email=addr.email, is_superuser=form.cleaned_data["is_superuser"]
            )
            # Nobody knows this password; the emailed link sets a real one.
            user.set_password(secrets.token_urlsafe(32))
            user.is_staff = user.is_superuser
            user.save()
            audit(who, "user.create", email=addr.email, site_admin=user.is_superuser)
            for ml in form.cleaned_data["owns"]:
                result = services.subscribe(ml, addr, actor=who, role=Role.OWNER)
                if not result.changed:
                    services.set_role(result.subscription, Role.OWNER, actor=who)
        send_password_link(request, user, new_account=True)
        messages.success(
            request,
            _("Created an account for %(address)s and mailed them a link to set a password.")
            % {"address": addr.email},
        )
        return redirect("users")
    return render(request, "web/users/create.html", {"form": form})


def _user(user_id: int) -> User:
    user = User.objects.filter(id=user_id).first()
    if user is None:
        raise Http404("No such user")
    return user


@site_admin_required
@require_POST
def change(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _user(user_id)
    what = request.POST.get("do", "")
    if user.id == request.user.id and what in ("deactivate", "demote", "delete"):
        messages.error(request, _("You cannot lock yourself out; ask another site admin."))
        return redirect("users")
    who = actor(request)
    if what == "reset":
        send_password_link(request, user, new_account=False)
        messages.success(
            request, _("Mailed %(address)s a link to set a new password.") % {"address": user.email}
        )
    elif what in ("activate", "deactivate"):
        user.is_active = what == "activate"
        user.save(update_fields=["is_active"])
        audit(who, f"user.{what}", email=user.email)
        messages.success(
            request,
            (
                _("%(address)s may sign in again.")
                if user.is_active
                else _("%(address)s can no longer sign in.")
            )
            % {"address": user.email},
        )
    elif what in ("promote", "demote"):
        user.is_superuser = user.is_staff = what == "promote"
        user.save(update_fields=["is_superuser", "is_staff"])
        audit(who, f"user.{what}", email=user.email)
        messages.success(
            request,
            (
                _("%(address)s is now a site admin.")
                if user.is_superuser
                else _("%(address)s is no longer a site admin.")
            )
            % {"address": user.email},
        )
    elif what == "delete" and request.POST.get("confirmed") != "yes":
        return render(
            request, "web/users/delete.html", {"account": user, "owns": owned_lists(user.email)}
        )
    elif what == "delete":
        email = user.email
        user.delete()
        audit(who, "user.delete", email=email)
        messages.success(
            request,
            _("Deleted the account of %(address)s; their list memberships stay.")
            % {"address": email},
        )
    return redirect("users")
