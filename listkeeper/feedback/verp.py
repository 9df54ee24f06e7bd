"""What the address a bounce was sent to proves.

Anyone can mail `NAME-bounces@DOMAIN` a delivery report naming anyone, so a
report is only believed when it arrives at an address that we made for one
copy: `NAME-bounces+TOKEN@DOMAIN`, where TOKEN is signed with SECRET_KEY and
names either one row of the delivery ledger (a copy of a post) or one bounce
probe. Only the member's own mail system (or whoever reads their mail) ever
sees that address.
"""

from __future__ import annotations

from dataclasses import dataclass

from listkeeper.delivery.models import Recipient
from listkeeper.feedback.models import BounceProbe
from listkeeper.lib import tokens
from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import MailingList, Member
from listkeeper.mail.models import Post


@dataclass
class Proof:
    """The copy (or probe) a bounce address names, or why it names none (`error`)."""

    error: str = ""
    email: str = ""  # the address that copy was sent to
    member: Member | None = None
    mailing_list: MailingList | None = None
    post: Post | None = None
    recipient: Recipient | None = None
    probe: BounceProbe | None = None

    @property
    def ok(self) -> bool:
        return not self.error

    def names(self, address: str) -> bool:
        """True when `address` is the one this copy was sent to (normalised)."""
        return bool(address) and address_key(address) == address_key(self.email)


def token_of(address: str) -> str:
    """TOKEN of NAME-bounces+TOKEN@DOMAIN, or ""."""
    local = address.strip().strip("<>").rpartition("@")[0]
    base, plus, token = local.partition("+")
    if not plus or not base.lower().endswith("-bounces"):
        return ""
    return token


def read(address: str, mailing_list: MailingList | None = None) -> Proof:
    """What the bounce address `address` proves; `mailing_list` is the list it was sent to."""
    token = token_of(address)
    if not token:
        return Proof(error="sent to the plain bounce address, without a VERP token")
    if token.lower().startswith(tokens.PROBE_PREFIX):
        proof = _probe(token)
    else:
        proof = _copy(token)
    if proof.ok and mailing_list is not None and proof.mailing_list not in (None, mailing_list):
        assert proof.mailing_list is not None
        return Proof(
            error=f"the VERP token was made for a copy from {proof.mailing_list.address}, "
            f"not {mailing_list.address}"
        )
    return proof


def _copy(token: str) -> Proof:
    try:
        recipient_id = tokens.read_verp_token(token)
    except tokens.BadToken:
        return Proof(error="the VERP token does not verify (altered, or not made by this site)")
    row = (
        Recipient.objects.select_related(
            "member", "delivery__post__mailing_list", "delivery__digest__mailing_list"
        )
        .filter(id=recipient_id)
        .first()
    )
    if row is None:
        return Proof(error="the VERP token names a copy that is no longer in the delivery ledger")
    post = row.delivery.post
    digest = row.delivery.digest  # a digest's copy: the list is the issue's
    member = row.member or Member.objects.filter(key=address_key(row.email)).first()
    return Proof(
        email=row.email,
        member=member,
        mailing_list=post.mailing_list
        if post is not None
        else (digest.mailing_list if digest is not None else None),
        post=post,
        recipient=row,
    )


def _probe(token: str) -> Proof:
    try:
        probe_id = tokens.read_probe_token(token)
    except tokens.BadToken:
        return Proof(error="the probe token does not verify (altered, or not made by this site)")
    probe = (
        BounceProbe.objects.select_related("subscription__member", "subscription__mailing_list")
        .filter(id=probe_id)
        .first()
    )
    if probe is None:
        return Proof(error="the probe token names a probe that no longer exists")
    sub = probe.subscription
    return Proof(email=probe.email, member=sub.member, mailing_list=sub.mailing_list, probe=probe)
