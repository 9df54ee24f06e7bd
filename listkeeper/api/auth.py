"""Bearer-token authentication: `Authorization: Bearer lk_...`.

A token acts as its user, so the user's list roles (lists/permissions.py)
decide what it may do. No cookies are involved, hence no CSRF check.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from listkeeper.api.models import ApiToken, hash_token

# Writing last_used on every request would make reads into writes.
LAST_USED_GRANULARITY = timedelta(minutes=5)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if not token:
            return None
        found = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_token(token.strip()))
            .first()
        )
        if found is None or not found.user.is_active:
            return None
        now = timezone.now()
        if found.last_used is None or now - found.last_used > LAST_USED_GRANULARITY:
            ApiToken.objects.filter(id=found.id).update(last_used=now)
        request.user = found.user
        return found.user


def actor(request: HttpRequest) -> str:
    """The audit-log actor for changes made through the API."""
    # django-ninja sets request.auth (unknown to the stubs) to the token's user.
    return f"api:{request.auth.email}"  # type: ignore[attr-defined]
