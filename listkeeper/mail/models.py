from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from listkeeper.lists.models import MailingList, RouteKind


class HeldNotice(models.Model):
    """When a list's moderators were last mailed about held posts, and up to which post.

    Keeps the held-post notice to at most one mail per list per hour.
    """

    mailing_list = models.OneToOneField(
        MailingList, on_delete=models.CASCADE, related_name="held_notice"
    )
    last_sent = models.DateTimeField(null=True, blank=True)
    # The newest held post the last notice listed; a newer one makes a notice due.
    last_post_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"held-post notice for {self.mailing_list}"


class PostStatus(models.TextChoices):
    ACCEPTED = "accepted", gettext_lazy("Accepted")
    HELD = "held", gettext_lazy("Held for moderation")
    REJECTED = "rejected", gettext_lazy("Rejected")
    DISCARDED = "discarded", gettext_lazy("Discarded")


class Post(models.Model):
    """A message that arrived for a list, with the decision on it."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="posts")
    message_id = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=254)  # envelope sender
    author = models.CharField(max_length=254, blank=True)  # From: address
    subject = models.CharField(max_length=998, blank=True)
    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    received = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=12, choices=PostStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    decided = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)
    # What our authentication check found (the Authentication-Results value
    # without the authserv-id, also on top of `raw`); empty: not checked.
    authentication = models.CharField(max_length=1000, blank=True, db_default="")

    class Meta:
        ordering = ["-received", "-id"]
        indexes = [models.Index(fields=["mailing_list", "status"])]

    def __str__(self) -> str:
        return f"{self.subject!r} to {self.mailing_list} ({self.status})"


class InboundKind(models.TextChoices):
    BOUNCE = "bounce", gettext_lazy("Delivery report")
    OWNER = "owner", gettext_lazy("Mail to the owners")
    REQUEST = "request", gettext_lazy("Command")


# The list address each kind of inbound mail arrives at.
INBOUND_ADDRESS = {
    InboundKind.BOUNCE: RouteKind.BOUNCES,
    InboundKind.OWNER: RouteKind.OWNER,
    InboundKind.REQUEST: RouteKind.REQUEST,
}


class InboundMessage(models.Model):
    """Mail to -bounces, -owner and -request addresses, kept for processing."""

    mailing_list = models.ForeignKey(
        MailingList, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=InboundKind.choices)
    recipient = models.CharField(max_length=254)
    sender = models.CharField(max_length=254, blank=True)
    raw = models.BinaryField()
    received = models.DateTimeField(default=timezone.now)
    processed = models.DateTimeField(null=True, blank=True)
    # What was done, whole: a report may name many addresses, and a cut list
    # would hide who was (or was not) acted on.
    result = models.TextField(blank=True)
    # Delivery reports only: why this report changed nothing although it names
    # failed recipients (no VERP token, a token that does not verify, or a
    # token made for someone else). Empty for reports that proved themselves.
    unproven = models.CharField(max_length=300, blank=True)
