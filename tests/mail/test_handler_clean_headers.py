from __future__ import annotations

from listkeeper.mail.handlers import clean_headers
from tests.support.mail import make_ctx

GONE = [
    "Return-Path",
    "Delivered-To",
    "X-Original-To",
    "DKIM-Signature",
    "Sender",
    "Errors-To",
    "Disposition-Notification-To",
    "List-Id",
    "List-Unsubscribe",
    "X-SES-Configuration-Set",
]


def test_it_removes_fields_that_must_not_reach_the_members(ml) -> None:
    ctx = make_ctx(ml, "dkim-gmail.eml")
    for name in GONE:
        assert name in ctx.headers

    clean_headers.handle(ctx)

    for name in GONE:
        assert name not in ctx.headers, name


def test_it_keeps_everything_else_byte_for_byte(ml) -> None:
    ctx = make_ctx(ml, "dkim-gmail.eml")
    kept = [
        f
        for f in ctx.headers
        if not f.lower().startswith(tuple(n.lower().encode() + b":" for n in GONE))
    ]

    clean_headers.handle(ctx)

    assert ctx.headers.fields == kept
    assert "X-Google-DKIM-Signature" in ctx.headers
    assert "ARC-Seal" in ctx.headers
