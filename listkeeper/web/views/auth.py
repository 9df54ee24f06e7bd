"""Sign-in, sign-out and password reset: Django's views with our templates.

Failed sign-ins are counted by django-axes (AxesMiddleware + backend); the
error and the lockout page read the same whether or not the account exists.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.urls import path, reverse_lazy
from django.utils.translation import gettext_lazy as _


class SignInForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _(
            "That email and password do not match an account. Check both and try again."
        ),
        "inactive": _("That email and password do not match an account. Check both and try again."),
    }

    def clean_username(self) -> str:
        # Accounts are keyed by lowercased email (see createadmin and the users page).
        return self.cleaned_data["username"].strip().lower()


_reset_email = {
    "email_template_name": "emails/password_reset.txt",
    "subject_template_name": "emails/password_reset.subject.txt",
    "html_email_template_name": "emails/password_reset.html",
}


def urlpatterns_auth() -> list:
    return [
        path(
            "accounts/login/",
            auth_views.LoginView.as_view(
                template_name="web/auth/login.html",
                authentication_form=SignInForm,
                redirect_authenticated_user=True,
            ),
            name="login",
        ),
        path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
        path(
            "accounts/password/reset/",
            auth_views.PasswordResetView.as_view(
                template_name="web/auth/password_reset.html",
                # The mail's link uses SITE_URL, never the request's Host header.
                extra_email_context={"site_url": settings.SITE_URL},
                success_url=reverse_lazy("password_reset_done"),
                **_reset_email,
            ),
            name="password_reset",
        ),
        path(
            "accounts/password/reset/sent/",
            auth_views.PasswordResetDoneView.as_view(
                template_name="web/auth/password_reset_done.html"
            ),
            name="password_reset_done",
        ),
        path(
            "accounts/reset/<uidb64>/<token>/",
            auth_views.PasswordResetConfirmView.as_view(
                template_name="web/auth/password_reset_confirm.html",
                success_url=reverse_lazy("password_reset_complete"),
            ),
            name="password_reset_confirm",
        ),
        path(
            "accounts/reset/done/",
            auth_views.PasswordResetCompleteView.as_view(
                template_name="web/auth/password_reset_complete.html"
            ),
            name="password_reset_complete",
        ),
        path(
            "accounts/password/",
            auth_views.PasswordChangeView.as_view(
                template_name="web/auth/password_change.html",
                success_url=reverse_lazy("password_change_done"),
            ),
            name="password_change",
        ),
        path(
            "accounts/password/done/",
            auth_views.PasswordChangeDoneView.as_view(
                template_name="web/auth/password_change_done.html"
            ),
            name="password_change_done",
        ),
    ]
