from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from listkeeper.delivery.models import Recipient
from listkeeper.lists.models import MailingList, Member, Subscription
from listkeeper.mail.models import Post


class EventKind(models.TextChoices):
    ACCEPTED = "accepted", gettext_lazy("Accepted by SES")
    DELIVERED = "delivered", gettext_lazy("Delivered")
    HARD_BOUNCE = "hard", gettext_lazy("Bounced (permanent)")
    SOFT_BOUNCE = "soft", gettext_lazy("Bounced (temporary)")
    COMPLAINT = "complaint", gettext_lazy("Complained")


class EventSource(models.TextChoices):
    SNS = "sns", gettext_lazy("SES notification")
    DSN = "dsn", gettext_lazy("Delivery report")


class DeliveryEvent(models.Model):
    """What became of one copy after Postfix took it: the raw material of the figures."""

    kind = models.CharField(max_length=10, choices=EventKind.choices)
    source = models.CharField(max_length=4, choices=EventSource.choices)
    email = models.CharField(max_length=254)
    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The ledger row the VERP token named, when we know it.
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, blank=True)  # e.g. 5.1.1
    detail = models.CharField(max_length=500, blank=True)
    ses_message_id = models.CharField(max_length=200, blank=True)
    occurred = models.DateTimeField(default=timezone.now, db_index=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred", "-id"]
        indexes = [
            models.Index(fields=["mailing_list", "occurred"]),
            models.Index(fields=["post", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.email} ({self.source})"


class SnsMessage(models.Model):
    """Every SNS message we were sent: accepted ones (to drop retries) and refused ones (why)."""

    message_id = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=40, blank=True)
    topic_arn = models.CharField(max_length=300, blank=True)
    verified = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    received = models.DateTimeField(default=timezone.now, db_index=True)
    result = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received", "-id"]
        constraints = [
            # SNS retries until it gets a 2xx; a verified message is acted on once.
            models.UniqueConstraint(
                fields=["message_id"],
                condition=Q(verified=True),
                name="unique_verified_sns_message",
            )
        ]

    def __str__(self) -> str:
        state = "ok" if self.verified else f"refused: {self.reason}"
        return f"{self.type} {self.message_id} {state}"


class ProbeState(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting for a bounce")
    BOUNCED = "bounced", gettext_lazy("Bounced: delivery disabled")
    EXPIRED = "expired", gettext_lazy("Did not bounce: score reset")


class BounceProbe(models.Model):
    """A notice sent before disabling a member for their bounce score (as GNU Mailman does).

    It goes to the member from a VERP address whose token names this row; if
    it bounces too, delivery is disabled, and if nothing comes back before
    `expires`, the score starts again from zero.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=254)  # the address the probe was sent to
    state = models.CharField(max_length=8, choices=ProbeState.choices, default=ProbeState.PENDING)
    sent = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(db_index=True)
    resolved = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent", "-id"]
        indexes = [models.Index(fields=["state", "expires"])]

    def __str__(self) -> str:
        return f"probe to {self.email} ({self.state})"
