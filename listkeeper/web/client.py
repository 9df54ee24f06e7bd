"""The client's address, as the public-form throttles and the sign-in lock-out see it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting only as many X-Forwarded-For hops as configured.

    Behind TRUSTED_PROXY_COUNT proxies the address the nearest trusted proxy saw
    is the client; REMOTE_ADDR would be the proxy, shared by every client.
    """
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [h for h in forwarded if h]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))
