"""What every owners' page needs to know about the signed-in person (the navigation)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from listkeeper.lists import permissions
from listkeeper.web.access import managed_list_ids

# The navigation entry each path belongs to (longest prefix first).
SECTIONS = [
    ("/members/", "members"),
    ("/lists/", "lists"),
    ("/bulk/", "bulk"),
    ("/audit/", "audit"),
    ("/users/", "users"),
    ("/status/", "status"),
]


def interface(request: HttpRequest) -> dict[str, Any]:
    """The navigation: what the person may use, and where they are.

    `nav_manages`: owns a list or is a site admin; a moderator only sees what
    they can act on (their lists and held posts).
    """
    path = request.path
    current = (
        "dashboard" if path == "/" else next((s for p, s in SECTIONS if path.startswith(p)), "")
    )
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_manages": False, "nav_admin": False, "nav_current": current}
    admin = permissions.is_site_admin(user)
    return {
        "nav_manages": admin or bool(managed_list_ids(request)),
        "nav_admin": admin,
        "nav_current": current,
    }
