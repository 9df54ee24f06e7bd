"""Remove fields that must not pass on to the members.

Trace and delivery fields of the poster's own path (Return-Path, Delivered-To,
X-Original-To), the poster's signatures (their DKIM no longer verifies once
From changes; our domain signs instead), identities SES would refuse (Sender,
Errors-To), read-receipt requests every member's client would answer, fields
that would pick our SES configuration set, and any List-* fields from another
list (we add our own).
"""

from __future__ import annotations

from listkeeper.mail.context import InFlight

REMOVE = frozenset(
    name.lower()
    for name in [
        "Return-Path",
        "Delivered-To",
        "X-Original-To",
        "DKIM-Signature",
        "DomainKey-Signature",
        "Sender",
        "Errors-To",
        "Return-Receipt-To",
        "Disposition-Notification-To",
        "X-Confirm-Reading-To",
        "Approved",
        "Approve",
        "Bcc",
        "Precedence",
        "X-SES-Configuration-Set",
        "X-SES-Message-Tags",
    ]
)


def handle(ctx: InFlight) -> None:
    ctx.headers.remove_where(
        lambda name: name.lower() in REMOVE or name.lower().startswith("list-")
    )
