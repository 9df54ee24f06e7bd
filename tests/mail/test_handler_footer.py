from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.mail import headers as h
from listkeeper.mail.handlers import footer
from tests.support.mail import load, make_ctx, parse_out

PLACEHOLDER = b"@@UNSUBSCRIBE_URL@@"


def with_footer(ml, raw):
    ctx = make_ctx(ml, raw)
    body_before = ctx.body
    footer.handle(ctx)
    return ctx, body_before, parse_out(ctx.as_bytes())


def placeholder_parts(msg) -> list:
    """Leaf parts whose raw payload holds the placeholder, with their CTE."""
    return [
        (p.get_content_type(), p.get("Content-Transfer-Encoding", "7bit").lower())
        for p in msg.walk()
        if not p.is_multipart() and PLACEHOLDER.decode() in p.get_payload(decode=False)
    ]


def test_it_appends_to_a_plain_text_message(ml) -> None:
    ctx, before, msg = with_footer(ml, "plain.eml")

    assert ctx.body.startswith(before)
    assert ctx.body.endswith(
        b"Community mailing list <community@lists.example.org>\r\nUnsubscribe: @@UNSUBSCRIBE_URL@@\r\n"
    )
    assert msg.get_content_type() == "text/plain"


def test_it_appends_utf8_to_an_8bit_utf8_body(ml) -> None:
    services.update_list(ml, actor="test", display_name="Gemeinschaft Köln")
    ctx, before, msg = with_footer(ml, "nonascii-8bit.eml")

    assert ctx.body.startswith(before)
    assert "Gemeinschaft Köln mailing list" in msg.get_content()
    assert placeholder_parts(msg) == [("text/plain", "8bit")]


def test_it_marks_a_7bit_utf8_part_8bit_when_the_footer_is_not_ascii(ml) -> None:
    services.update_list(ml, actor="test", display_name="Gemeinschaft Köln")
    ctx, before, msg = with_footer(ml, "reply-references.eml")

    assert ctx.body.startswith(before)
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert msg.get_content().replace("\r\n", "\n").endswith("Unsubscribe: @@UNSUBSCRIBE_URL@@\n")


def test_it_adds_a_part_to_a_mixed_message_leaving_the_others_alone(ml) -> None:
    ctx, before, msg = with_footer(ml, "html-text-attachment.eml")

    closing = before.rindex(b"--_004_")
    assert ctx.body[:closing] == before[:closing]
    assert ctx.body.endswith(before[closing:])
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert kinds == ["multipart/alternative", "application/pdf", "text/plain"]
    assert placeholder_parts(msg) == [("text/plain", "7bit")]


@pytest.mark.parametrize("name", ["dkim-gmail.eml", "latin1-8bit.eml"])
def test_it_wraps_other_messages_in_a_new_mixed_part(ml, name) -> None:
    services.update_list(ml, actor="test", display_name="Gemeinschaft Köln")
    original = make_ctx(ml, name)
    ctx, before, msg = with_footer(ml, name)

    assert msg.get_content_type() == "multipart/mixed"
    first, second = msg.iter_parts()
    assert first.get_content_type() == original.parsed.get_content_type()
    inner_raw = [f for f in original.headers if h.field_name(f).lower().startswith("content-")]
    assert (b"".join(inner_raw) + h.CRLF + before) in ctx.body
    assert second.get_content_type() == "text/plain"
    assert placeholder_parts(msg) == [("text/plain", "8bit")]
    assert msg["MIME-Version"] == "1.0"


def test_it_wraps_a_base64_text_part_rather_than_re_encoding_it(ml) -> None:
    raw = (
        b"From: alice@example.com\nSubject: b64\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        b"R3LDvMOfZQo=\n"
    )
    ctx, before, msg = with_footer(ml, raw)

    first, second = msg.iter_parts()
    assert first.get_content() == "Grüße\n"
    assert b"\r\n\r\nR3LDvMOfZQo=\r\n" in ctx.body
    assert placeholder_parts(msg) == [("text/plain", "7bit")]


def test_it_puts_the_list_page_in_the_footer_of_a_non_personalised_list(ml, settings) -> None:
    settings.SITE_URL = "https://lists.example.org"
    services.update_list(ml, actor="test", personalised=False)
    ctx, _, _ = with_footer(ml, "plain.eml")

    assert PLACEHOLDER not in ctx.body
    assert b"Unsubscribe: https://lists.example.org/l/community@lists.example.org/\r\n" in ctx.body


def test_it_adds_nothing_when_the_list_has_no_footer(ml) -> None:
    services.update_list(ml, actor="test", footer=False)
    ctx = make_ctx(ml, "html-text-attachment.eml")
    before = ctx.as_bytes()

    footer.handle(ctx)

    assert ctx.as_bytes() == before
    assert PLACEHOLDER not in load("html-text-attachment.eml")
