from __future__ import annotations

from django.db import models
from django.utils import timezone

from listkeeper.lists.models import Member, Post


class JobState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Sending"
    DONE = "done", "Handed to Postfix"


class Delivery(models.Model):
    """The fan-out of one accepted post (or one message we send ourselves)."""

    post = models.OneToOneField(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="delivery"
    )
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
    PENDING = "pending", "Waiting"
    CLAIMED = "claimed", "Being sent"
    SENT = "sent", "Handed to Postfix"
    FAILED = "failed", "Refused by Postfix"
    SKIPPED = "skipped", "Left the list before sending"


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
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "state", "id"])]


class WorkerHeartbeat(models.Model):
    name = models.CharField(max_length=100, unique=True)
    seen = models.DateTimeField(default=timezone.now)
