"""What every owners' page needs to know about the signed-in person (the navigation)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from listkeeper.lists import permissions
from listkeeper.web.access import managed_list_ids


def interface(request: HttpRequest) -> dict[str, Any]:
    """`nav_manages`: owns a list or is a site admin; a moderator only sees what they can use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_manages": False, "nav_admin": False}
    admin = permissions.is_site_admin(user)
    return {"nav_manages": admin or bool(managed_list_ids(request)), "nav_admin": admin}
