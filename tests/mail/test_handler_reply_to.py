from __future__ import annotations

from listkeeper.lists import services
from listkeeper.lists.models import ReplyTo
from listkeeper.mail.handlers import reply_to
from tests.support.mail import load, make_ctx, parse_out


def handled(ml, raw):
    ctx = make_ctx(ml, raw)
    reply_to.handle(ctx)
    return ctx, parse_out(ctx.as_bytes())


def emails(msg, name: str) -> list[str]:
    return [a.addr_spec for a in msg[name].addresses] if msg[name] else []


def test_it_points_replies_at_the_list_and_copies_the_author(ml) -> None:
    _, msg = handled(ml, "plain.eml")

    assert emails(msg, "Reply-To") == ["community@lists.example.org"]
    assert emails(msg, "Cc") == ["alice@example.com"]


def test_it_copies_the_posters_own_reply_to_instead_of_their_from(ml) -> None:
    _, msg = handled(ml, "reply-references.eml")

    assert emails(msg, "Reply-To") == ["community@lists.example.org"]
    assert emails(msg, "Cc") == ["dave.home@example.net"]
    assert msg["Cc"].addresses[0].display_name == "Dave at home"


def test_it_extends_an_existing_cc_without_touching_its_bytes(ml) -> None:
    raw = load("plain.eml").replace(
        b"To: community", b"Cc: =?utf-8?q?Bj=C3=B6rn?= <bjorn@example.org>\nTo: community"
    )
    ctx, msg = handled(ml, raw)

    assert ctx.headers.raw("Cc").startswith(b"Cc: =?utf-8?q?Bj=C3=B6rn?= <bjorn@example.org>,\r\n ")
    assert emails(msg, "Cc") == ["bjorn@example.org", "alice@example.com"]
    assert msg["Cc"].addresses[0].display_name == "Björn"


def test_it_adds_no_cc_when_the_author_is_already_addressed(ml) -> None:
    raw = load("plain.eml").replace(
        b"To: community@lists.example.org", b"To: community@lists.example.org, alice@example.com"
    )
    _, msg = handled(ml, raw)

    assert msg["Cc"] is None


def test_it_keeps_the_posters_reply_to_when_replies_go_to_the_author(ml) -> None:
    services.update_list(ml, actor="test", reply_to=ReplyTo.AUTHOR)
    ctx, msg = handled(ml, "reply-references.eml")

    assert ctx.headers.raw("Reply-To") == b"Reply-To: Dave at home <dave.home@example.net>\r\n"
    assert msg["Cc"] is None


def test_it_sets_the_author_as_reply_to_when_replies_go_to_the_author(ml) -> None:
    services.update_list(ml, actor="test", reply_to=ReplyTo.AUTHOR)
    _, msg = handled(ml, "nonascii-8bit.eml")

    assert emails(msg, "Reply-To") == ["joerg@beispiel.de"]
    assert msg["Reply-To"].addresses[0].display_name == "Jörg Müller"
