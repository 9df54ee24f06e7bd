from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.mail.handlers import subject_tag
from tests.support.mail import load, make_ctx, parse_out


@pytest.fixture
def tagged_ml(ml):
    return services.update_list(ml, actor="test", subject_tag="Community")


def subject_after(ml, raw) -> tuple[bytes, str]:
    ctx = make_ctx(ml, raw)
    subject_tag.handle(ctx)
    return ctx.headers.raw("Subject"), str(parse_out(ctx.as_bytes())["Subject"])


def with_subject(subject: bytes) -> bytes:
    return load("plain.eml").replace(b"Subject: Meeting on Thursday", b"Subject: " + subject)


def test_it_prefixes_the_tag(tagged_ml) -> None:
    assert (
        subject_after(tagged_ml, "plain.eml")[0] == b"Subject: [Community] Meeting on Thursday\r\n"
    )


def test_it_does_not_repeat_the_tag_on_replies(tagged_ml) -> None:
    raw = load("reply-references.eml")
    field, _ = subject_after(tagged_ml, raw)

    assert field == b"Subject: Re: [Community] Meeting on Thursday\r\n"


@pytest.mark.parametrize(
    "subject, expected",
    [
        (b"Re: Meeting", "Re: [Community] Meeting"),
        (b"RE: AW: Meeting", "RE: AW: [Community] Meeting"),
        (b"Fwd: Meeting", "[Community] Fwd: Meeting"),
        (b"[community] lower case", "[community] lower case"),
        (b"", "[Community] (no subject)"),
    ],
)
def test_it_puts_the_tag_after_reply_prefixes(tagged_ml, subject, expected) -> None:
    assert subject_after(tagged_ml, with_subject(subject))[1] == expected


def test_it_tags_an_rfc2047_subject_and_keeps_its_text(tagged_ml) -> None:
    field, text = subject_after(tagged_ml, "nonascii-8bit.eml")

    assert field.isascii()
    assert text == "[Community] Grüße aus Köln — Übersicht"


def test_it_recognises_the_tag_inside_an_encoded_reply_subject(tagged_ml) -> None:
    raw = with_subject(b"=?utf-8?q?Re=3A_=5BCommunity=5D_Gr=C3=BC=C3=9Fe?=")
    field, text = subject_after(tagged_ml, raw)

    assert field == b"Subject: =?utf-8?q?Re=3A_=5BCommunity=5D_Gr=C3=BC=C3=9Fe?=\r\n"
    assert text == "Re: [Community] Grüße"


def test_it_accepts_a_tag_written_with_brackets(ml) -> None:
    services.update_list(ml, actor="test", subject_tag="[Club]")

    assert subject_after(ml, "plain.eml")[1] == "[Club] Meeting on Thursday"


def test_it_leaves_the_subject_alone_without_a_tag(ml) -> None:
    assert (
        subject_after(ml, "nonascii-8bit.eml")[0]
        == b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4oCUIMOcYmVyc2ljaHQ=?=\r\n"
    )
