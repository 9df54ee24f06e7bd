"""What the pipeline does not change on purpose leaves exactly as it came."""

from __future__ import annotations

import email
import re
from email import policy

import pytest

from listkeeper.lists import services
from listkeeper.mail import headers as h
from listkeeper.mail.handlers.clean_headers import REMOVE
from tests.support.mail import EML_FILES, load, run_pipeline

CHANGED = {"from", "subject", "reply-to", "cc", "content-transfer-encoding", "precedence"}


def raw_segments(block: h.HeaderBlock, body: bytes) -> list[bytes]:
    """The raw bytes of each part of a multipart body, found by its boundary."""
    top = email.message_from_bytes(block.as_bytes() + h.CRLF, policy=policy.compat32)
    boundary = top.get_boundary()
    if top.get_content_maintype() != "multipart" or not boundary:
        return [body]
    delimiter = re.escape(b"--" + boundary.encode())
    pieces = re.split(rb"(?:^|\r\n)" + delimiter + rb"(?:--)?[ \t]*\r\n", body)
    return [p for p in pieces[1:] if p]


def leaves(data: bytes) -> list[tuple[str, bytes]]:
    msg = email.message_from_bytes(data, policy=policy.compat32)
    return [
        (p.get_content_type(), p.get_payload(decode=True) or b"")
        for p in msg.walk()
        if not p.is_multipart() and p.get_content_type() != "message/rfc822"
    ]


@pytest.fixture(params=["Community", "Gemeinschaft Köln"])
def any_ml(request, ml):
    return services.update_list(
        ml, actor="test", display_name=request.param, subject_tag="Community"
    )


@pytest.mark.parametrize("name", EML_FILES)
def test_it_keeps_every_original_part_byte_for_byte(any_ml, name) -> None:
    raw = h.canonical(load(name))
    block, body = h.split(raw)

    _, out_body = h.split(run_pipeline(any_ml, raw))

    segments = raw_segments(block, body)
    if name in ("html-text-attachment.eml", "forwarded-rfc822.eml", "dkim-gmail.eml"):
        assert len(segments) >= 2
    for segment in segments:
        assert segment in out_body


@pytest.mark.parametrize("name", EML_FILES)
def test_it_keeps_the_header_fields_it_has_no_reason_to_change(any_ml, name) -> None:
    raw = h.canonical(load(name))
    block, body = h.split(raw)

    out_block, out_body = h.split(run_pipeline(any_ml, raw))

    for field in block:
        lower = h.field_name(field).lower()
        if lower in REMOVE or lower.startswith("list-") or lower in CHANGED:
            continue
        # Content-* fields move into the first part when the message is wrapped.
        assert field in out_block.fields or (lower.startswith("content-") and field in out_body)


@pytest.mark.parametrize("name", EML_FILES)
def test_it_keeps_every_decoded_part_and_attachment(any_ml, name) -> None:
    raw = load(name)
    out = run_pipeline(any_ml, raw)

    before, after = leaves(h.canonical(raw)), leaves(out)

    for kind, payload in before:
        assert any(k == kind and p.startswith(payload) for k, p in after), kind
    assert len(after) in (len(before), len(before) + 1)


def test_it_keeps_a_forwarded_message_whole_with_its_own_headers(ml) -> None:
    raw = h.canonical(load("forwarded-rfc822.eml"))
    inner_start = raw.index(b"Return-Path: <joerg@beispiel.de>")
    inner = raw[inner_start : raw.index(b"\r\n--------------Fw9Qz3Xk2LmN8pR4sT6vY0--")]

    out = run_pipeline(ml, raw)

    assert inner in out
    assert b"DKIM-Signature: v=1; a=rsa-sha256; d=beispiel.de" in out
    assert "Grüße, Jörg".encode() in out


def test_it_writes_crlf_line_endings_only(ml) -> None:
    for name in EML_FILES:
        out = run_pipeline(ml, load(name))
        assert b"\n" not in out.replace(b"\r\n", b""), name
        assert b"\r" not in out.replace(b"\r\n", b""), name


def test_it_keeps_an_8bit_latin1_body_as_it_came(ml) -> None:
    raw = load("latin1-8bit.eml").replace(b"\n", b"\r\n")
    body = raw.split(b"\r\n\r\n", 1)[1]

    out = run_pipeline(ml, raw)

    assert "Bonjour à tous".encode("iso-8859-1") in body
    assert body in out
