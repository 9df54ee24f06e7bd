"""Accounts that sign in to the web interface or own API tokens."""

from __future__ import annotations

from django.contrib.auth.models import User

PASSWORD = "correct horse battery staple"


def make_user(email: str, *, admin: bool = False, password: str = PASSWORD) -> User:
    """An account named by its lowercased address; `admin` makes a site admin."""
    user = User(username=email.lower(), email=email, is_superuser=admin, is_staff=admin)
    user.set_password(password)
    user.save()
    return user
