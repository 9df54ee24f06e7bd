"""Messages we send ourselves, from listkeeper/mail/templates/emails/NAME.{subject.txt,txt,html}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from listkeeper.lists.models import MailingList


def render_email(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject = render_to_string(f"emails/{name}.subject.txt", context).strip().replace("\n", " ")
    text = render_to_string(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    return subject, text, html


def send_template(
    name: str,
    to: Sequence[str],
    context: dict[str, Any] | None = None,
    *,
    mailing_list: MailingList | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Render emails/NAME.* with the list's name and links, queue it for delivery.

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
