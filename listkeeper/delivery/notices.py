"""Messages we send ourselves, from listkeeper/mail/templates/emails/NAME.{subject.txt,txt,html}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import MailingList, Member


def render_email(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject = render_to_string(f"emails/{name}.subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    return subject, text, html


def language_for(to: Sequence[str]) -> str:
    """The language to write to these recipients in.

    One recipient who is a member with a preferred language gets that; anyone
    else the language active now (the page they used, under LocaleMiddleware),
    which outside a request is the site's LANGUAGE_CODE.
    """
    if len(to) == 1:
        preferred = (
            Member.objects.filter(key=address_key(to[0])).values_list("language", flat=True).first()
        )
        if preferred:
            return preferred
    return translation.get_language() or settings.LANGUAGE_CODE


def send_template(
    name: str,
    to: Sequence[str],
    context: dict[str, Any] | None = None,
    *,
    mailing_list: MailingList | None = None,
    headers: dict[str, str] | None = None,
    language: str | None = None,
) -> None:
    """Render emails/NAME.* with the list's name and links, queue it for delivery.

    In `language`, else the recipient's preferred language (language_for).

    From and the envelope sender are the list's -owner / -bounces addresses (or
    DEFAULT_FROM_EMAIL without a list), so SES sees a verified identity and a
    reply never reaches the list itself.
    """
    ctx: dict[str, Any] = {"site_url": settings.SITE_URL, **(context or {})}
    if mailing_list is not None:
        ctx.setdefault("list", mailing_list)
        from_email = f'"{mailing_list.name}" <{mailing_list.suffixed("owner")}>'
        envelope = mailing_list.suffixed("bounces")
    else:
        from_email = settings.DEFAULT_FROM_EMAIL
        envelope = settings.DEFAULT_FROM_EMAIL
    with translation.override(language or language_for(to)):
        subject, text, html = render_email(name, ctx)
    msg = EmailMultiAlternatives(
        subject,
        text,
        from_email,
        list(to),
        headers={"Auto-Submitted": "auto-generated", **(headers or {})},
    )
    msg.attach_alternative(html, "text/html")
    # The backend reads from_email for the envelope; set it explicitly to -bounces.
    msg.extra_headers.setdefault("From", from_email)
    msg.from_email = envelope
    msg.send()
