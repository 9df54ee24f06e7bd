"""Fixed-window request counters in Django's cache, against mail-bombing.

With the default local-memory cache the counters are per process; several
web processes need a shared cache (CACHE_URL=db://... or redis://...).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from listkeeper.web.client import client_ip


def _key(scope: str, value: str) -> str:
    # Hashed so the cache never holds addresses, and keys stay short and safe.
    digest = hashlib.sha256(f"{scope}\0{value}".encode()).hexdigest()[:32]
    return f"listkeeper:throttle:{scope}:{digest}"


def hit(scope: str, value: str, limit: int) -> bool:
    """Count one request for (scope, value); True while within `limit` per window."""
    key = _key(scope, value)
    cache.add(key, 0, timeout=settings.THROTTLE_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add() and incr()
        cache.set(key, 1, timeout=settings.THROTTLE_WINDOW)
        count = 1
    return count <= limit


def allow_client(request: HttpRequest) -> bool:
    return hit("client", client_ip(request), settings.THROTTLE_PER_CLIENT)


def allow_mail_to(key: str) -> bool:
    """Whether one more public-form mail may go to this address key now."""
    return hit("address", key, settings.THROTTLE_PER_ADDRESS)
