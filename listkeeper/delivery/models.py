from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from listkeeper.lists.models import DeliveryMode, MailingList, Member
from listkeeper.mail.models import Post


class JobState(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting")
    RUNNING = "running", gettext_lazy("Sending")
    DONE = "done", gettext_lazy("Handed to Postfix")


class DigestIssue(models.Model):
    """One digest issue of a list: the posts cut from its pending content at once.

    Its MIME and plain-text forms are built once, each stored as the message
    of one Delivery (`deliveries`), whose ledger names every member it goes to.
    """

    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="digest_issues"
    )
    volume = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    cut = models.DateTimeField(default=timezone.now)
    posts = models.PositiveIntegerField(default=0)
    size = models.PositiveIntegerField(default=0)
    recipients = models.PositiveIntegerField(default=0)
    cut_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-cut", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["mailing_list", "volume", "number"], name="unique_digest_issue"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mailing_list} digest, Vol {self.volume}, Issue {self.number}"


class DigestEntry(models.Model):
    """An accepted post waiting for (issue NULL) or carried by one digest issue.

    Created in the transaction that accepts the post; the one-to-one on the
    post and the issue being set once, when the issue is cut, keep every post
    in exactly one issue.
    """

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="digest_entry")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="+")
    issue = models.ForeignKey(
        DigestIssue, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    # The post as distributed, without the per-member footer.
    message = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    added = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["mailing_list", "issue", "id"])]


class Delivery(models.Model):
    """The fan-out of one accepted post, one digest issue in one format, or one
    message we send ourselves."""

    post = models.OneToOneField(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="delivery"
    )
    digest = models.ForeignKey(
        DigestIssue, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    # Which members of the digest this delivery is for: digest or digest-plain.
    digest_mode = models.CharField(max_length=12, choices=DeliveryMode.choices, blank=True)
    # The transformed message, before per-recipient personalisation.
    message = models.BinaryField()
    envelope_from = models.CharField(max_length=254)
    personalised = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=JobState.choices, default=JobState.PENDING)
    total = models.PositiveIntegerField(default=0)
    handed_off = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    # A big list's ledger is recorded in chunks: the first while the post is
    # accepted, the rest by the worker. Subscriptions with an id above this one
    # are still to be recorded; NULL once the ledger is complete.
    expand_after = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "id"])]

    @property
    def expanding(self) -> bool:
        return self.expand_after is not None


class RecipientState(models.TextChoices):
    PENDING = "pending", gettext_lazy("Waiting")
    CLAIMED = "claimed", gettext_lazy("Being sent")
    SENT = "sent", gettext_lazy("Handed to Postfix")
    FAILED = "failed", gettext_lazy("Refused by Postfix")
    SKIPPED = "skipped", gettext_lazy("Left the list before sending")


class Recipient(models.Model):
    """One row of the delivery ledger: who gets this post, and how far it got."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="recipients")
    member = models.ForeignKey(Member, null=True, on_delete=models.SET_NULL, related_name="+")
    email = models.CharField(max_length=254)
    state = models.CharField(
        max_length=8, choices=RecipientState.choices, default=RecipientState.PENDING
    )
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Postfix's queue id of the copy the hand-off policy marked handed (with
    # sent_at): the mark names the copy, not only the row, so a second copy
    # of the row (a killed worker's, arriving late) is told from Postfix
    # asking again about the same one (claims.mark_handed). Nullable so that
    # adding it to a big ledger is a plain ADD COLUMN on every backend.
    queue_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "state", "id"])]


class WorkerHeartbeat(models.Model):
    name = models.CharField(max_length=100, unique=True)
    seen = models.DateTimeField(default=timezone.now)


class SESQuota(models.Model):
    """The SES account's quota as SES last reported it: one row (id 1), written by
    the workers (`quota.refresh`), read by the dashboard, /metrics and the feeder."""

    max_send_rate = models.FloatField(default=0)
    max_24h_send = models.FloatField(default=0)
    sent_last_24h = models.FloatField(default=0)
    # When SES answered with the figures above (None: never).
    fetched = models.DateTimeField(null=True, blank=True)
    # The sum of every Delivery.handed_off then: what we sent since is the sum now minus this.
    handed_off_at_fetch = models.BigIntegerField(default=0)
    # When we last asked, and why the figures could not be read then ("" when they could).
    checked = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = "SES quota"
