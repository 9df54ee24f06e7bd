"""Messages we send ourselves, from listkeeper/mail/templates/emails/NAME.{subject.txt,txt,html}."""

from __future__ import annotations

from collections.abc import Sequence
from email import policy
from email.utils import formataddr, make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import translation

from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import MailingList, Member, RouteKind

# Every notice's Message-ID carries this word, so a reply to one of our own
# notices (a vacation responder's, say) can be recognised and dropped.
NOTICE_ID_MARK = "listkeeper-notice"


def _render_text(template_name: str, context: dict[str, Any]) -> str:
    # Subjects and text parts are plain text: HTML escaping would turn
    # "St John's Friends & Family" into "St John&#x27;s Friends &amp; Family".
    # The backend's wrapper hides the engine template, which renders a Context
    # with autoescape off; the stubs type get_template() as the bare protocol.
    template = get_template(template_name).template  # type: ignore[attr-defined]
    return str(template.render(Context(context, autoescape=False)))


def render_email(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    subject = " ".join(_render_text(f"emails/{name}.subject.txt", context).split())
    text = _render_text(f"emails/{name}.txt", context)
    html = render_to_string(f"emails/{name}.html", context)
    return subject, text, html


def _encoded_subject(subject: str) -> str:
    """The Subject as RFC 2047 words where it needs them (email.headerregistry's folding).

    Django would encode a non-ASCII subject itself, but starts its folded
    field with an empty line, which readers show as a leading space.
    """
    if all(ord(c) < 128 for c in subject):
        return subject
    folded = policy.SMTP.header_factory("Subject", subject).fold(policy=policy.SMTP)
    return " ".join(folded.split(":", 1)[1].split())


def list_sender(mailing_list: MailingList) -> str:
    """`"List name" <list-owner@domain>`, quoted (or RFC 2047-encoded) as the name needs."""
    return formataddr((mailing_list.name, mailing_list.suffixed(RouteKind.OWNER)))


def is_reply_to_notice(references: str) -> bool:
    """Whether In-Reply-To/References name a notice we sent (see NOTICE_ID_MARK)."""
    return f".{NOTICE_ID_MARK}@" in references


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


def by_language(to: Sequence[str]) -> dict[str, list[str]]:
    """The recipients grouped by the language to write to each in (language_for).

    Members with a preferred language get it; everyone else shares the
    language active now. One group, in the order given, when nobody chose.
    """
    current = translation.get_language() or settings.LANGUAGE_CODE
    chosen = dict(
        Member.objects.filter(key__in=[address_key(a) for a in to])
        .exclude(language="")
        .values_list("key", "language")
    )
    groups: dict[str, list[str]] = {}
    for address in to:
        groups.setdefault(chosen.get(address_key(address), current), []).append(address)
    return groups


def send_template(
    name: str,
    to: Sequence[str],
    context: dict[str, Any] | None = None,
    *,
    mailing_list: MailingList | None = None,
    headers: dict[str, str] | None = None,
    envelope_from: str | None = None,
    language: str | None = None,
) -> None:
    """Render emails/NAME.* with the list's name and links, queue it for delivery.

    In `language`, else each recipient's preferred language: recipients who
    read different languages (a list's moderators) get one message per language.

    From and the envelope sender are the list's -owner / -bounces addresses (or
    DEFAULT_FROM_EMAIL without a list), so SES sees a verified identity and a
    reply never reaches the list itself. `envelope_from` replaces the envelope
    sender (a bounce probe's VERP address).
    """
    ctx: dict[str, Any] = {"site_url": settings.SITE_URL, **(context or {})}
    if mailing_list is not None:
        ctx.setdefault("list", mailing_list)
        from_email = list_sender(mailing_list)
        envelope = mailing_list.suffixed(RouteKind.BOUNCES)
        domain = mailing_list.domain
    else:
        from_email = settings.DEFAULT_FROM_EMAIL
        envelope = settings.DEFAULT_FROM_EMAIL
        domain = settings.LISTKEEPER_DOMAIN
    if envelope_from is not None:
        envelope = envelope_from
    groups = {language: list(to)} if language else by_language(to)
    for lang, recipients in groups.items():
        with translation.override(lang):
            subject, text, html = render_email(name, ctx)
        _send(subject, text, html, recipients, from_email, envelope, domain, headers)


def _send(
    subject: str,
    text: str,
    html: str,
    to: list[str],
    from_email: str,
    envelope: str,
    domain: str,
    headers: dict[str, str] | None,
) -> None:
    msg = EmailMultiAlternatives(
        _encoded_subject(subject),
        text,
        from_email,
        list(to),
        headers={
            "Auto-Submitted": "auto-generated",
            "Message-ID": make_msgid(idstring=NOTICE_ID_MARK, domain=domain),
            **(headers or {}),
        },
    )
    msg.attach_alternative(html, "text/html")
    # The backend reads from_email for the envelope; set it explicitly to -bounces.
    msg.extra_headers.setdefault("From", from_email)
    msg.from_email = envelope
    msg.send()
