"""Absolute URLs we put in mail. The paths are served by listkeeper.web."""

from __future__ import annotations

from django.conf import settings

from listkeeper.lib import tokens


def unsubscribe_url(list_id: int, member_id: int) -> str:
    return f"{settings.SITE_URL}/u/{tokens.unsubscribe_token(list_id, member_id)}/"


def confirm_url(list_id: int, email: str) -> str:
    return f"{settings.SITE_URL}/confirm/{tokens.confirm_token(list_id, email)}/"


def manage_url(email: str) -> str:
    return f"{settings.SITE_URL}/manage/{tokens.manage_token(email)}/"


def list_page_url(local_part: str, domain: str) -> str:
    return f"{settings.SITE_URL}/l/{local_part}@{domain}/"


# Archive URLs name a list by its RFC 2919 List-Id (NAME.DOMAIN), never by its
# address: an "@" in a URL gets mangled by mail filters and link rewriters.
def archive_url(list_id: str) -> str:
    return f"{settings.SITE_URL}/archive/{list_id}/"


def archive_message_url(list_id: str, slug: str) -> str:
    return f"{settings.SITE_URL}/archive/{list_id}/m/{slug}/"
