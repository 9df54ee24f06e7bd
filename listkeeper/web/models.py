from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from listkeeper.lists.models import MailingList


class ImportState(models.TextChoices):
    ANALYSING = "analysing", gettext_lazy("Checking the rows")
    PREVIEW = "preview", gettext_lazy("Ready to add")
    IMPORTING = "importing", gettext_lazy("Adding")
    DONE = "done", gettext_lazy("Done")
    FAILED = "failed", gettext_lazy("Failed")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")


class BulkImport(models.Model):
    """One paste or CSV upload: checked first (the preview), then added in chunks.

    Both phases run outside the request (see web/address_import.py); `heartbeat` shows the
    worker is alive, so a stale job is picked up again after a restart.
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=200)
    created = models.DateTimeField(default=timezone.now)
    lists = models.ManyToManyField(MailingList, related_name="+")
    source_name = models.CharField(max_length=255)
    # Pasted text is read as address lists, an upload as CSV (web/bulk.py).
    pasted = models.BooleanField(default=False)
    # The upload as text until it has been checked, then emptied.
    text = models.TextField(blank=True)
    state = models.CharField(
        max_length=10, choices=ImportState.choices, default=ImportState.ANALYSING
    )
    error = models.TextField(blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    # What the check found.
    rows = models.PositiveIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    # {list_id: {"new": n, "back": n, "already": n}}; "back" were members who had left.
    summary = models.JSONField(default=dict, blank=True)
    # Valid, unique addresses as "email<TAB>name" lines: what commit adds.
    addresses = models.TextField(blank=True)
    # Progress of the commit, in (list, address) pairs.
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    # {list_id: {"added": n, "reactivated": n, "already": n}}
    result = models.JSONField(default=dict, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


class ProblemKind(models.TextChoices):
    INVALID = "invalid", gettext_lazy("Not a valid address")
    DUPLICATE = "duplicate", gettext_lazy("Duplicate within the file")
    ALREADY = "already", gettext_lazy("Already a member")


class BulkImportProblem(models.Model):
    bulk_import = models.ForeignKey(BulkImport, on_delete=models.CASCADE, related_name="problems")
    line = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=ProblemKind.choices)
    value = models.CharField(max_length=500)
    message = models.CharField(max_length=500)

    class Meta:
        indexes = [models.Index(fields=["bulk_import", "line", "id"])]
