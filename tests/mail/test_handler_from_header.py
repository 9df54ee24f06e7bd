from __future__ import annotations

from email.headerregistry import Address

from listkeeper.lists import services
from listkeeper.mail.handlers import from_header
from tests.support.mail import load, make_ctx, parse_out


def from_of(ctx) -> Address:
    msg = parse_out(ctx.as_bytes())
    return msg["From"].addresses[0]


def test_it_sends_from_the_list_in_the_authors_name(ml) -> None:
    ctx = make_ctx(ml, "plain.eml")

    from_header.handle(ctx)

    assert (
        ctx.headers.raw("From")
        == b"From: Alice Example via Community <community@lists.example.org>\r\n"
    )


def test_it_encodes_non_ascii_names_as_rfc2047(ml) -> None:
    services.update_list(ml, actor="test", display_name="Gemeinschaft Köln")
    ctx = make_ctx(ml, "nonascii-8bit.eml")

    from_header.handle(ctx)

    field = ctx.headers.raw("From")
    assert field.isascii() and b"=?utf-8?" in field
    addr = from_of(ctx)
    assert addr.display_name == "Jörg Müller via Gemeinschaft Köln"
    assert addr.addr_spec == "community@lists.example.org"


def test_it_quotes_names_with_commas_and_quotes(ml) -> None:
    raw = load("plain.eml").replace(b"From: Alice Example <", b'From: "Example, Alice \\"Al\\"" <')
    ctx = make_ctx(ml, raw)

    from_header.handle(ctx)

    assert from_of(ctx).display_name == 'Example, Alice "Al" via Community'
    assert len(parse_out(ctx.as_bytes())["From"].addresses) == 1


def test_it_uses_the_address_when_the_author_gave_no_name(ml) -> None:
    ctx = make_ctx(ml, "no-message-id.eml")

    from_header.handle(ctx)

    assert from_of(ctx).display_name == "alice@example.com via Community"
