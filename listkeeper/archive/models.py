"""Archived messages, their threads and per-month counts.

Threading is decided when a message is archived (store.py), so pages read
rows in an order already known: a thread's messages sort by `path`, a month's
threads come from an index on (list, date), and the index page reads `Month`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from listkeeper.lists.models import MailingList
from listkeeper.mail.models import Post


class Thread(models.Model):
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="archive_threads"
    )
    # The slug of the message that started it: stable, and never a row id.
    slug = models.CharField(max_length=32)
    subject = models.CharField(max_length=998, blank=True)
    # The subject without Re:/Fwd:/[tag], folded: the JWZ subject fallback.
    subject_key = models.CharField(max_length=200, blank=True)
    started = models.DateTimeField()
    last_date = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    # The next path segment to hand out (see ArchivedMessage.path).
    next_seq = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "slug"], name="archive_thread_slug")
        ]
        indexes = [
            models.Index(fields=["mailing_list", "last_date"], name="archive_thread_last_idx"),
            models.Index(
                fields=["mailing_list", "subject_key", "last_date"], name="archive_thread_subj_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or self.slug


class ArchivedMessage(models.Model):
    # No index of their own: the (list, slug) and (thread, path) indexes lead
    # with them, and every index is work for each message archived.
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="archived_messages", db_index=False
    )
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="archived"
    )
    thread = models.ForeignKey(
        Thread, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    message_id = models.CharField(max_length=998)
    # ids.slug(message_id): the permalink; unique per list.
    slug = models.CharField(max_length=32)
    # The slug of the message shown as this one's parent ("" for a thread's first).
    # A slug, not a foreign key, so an import can insert a whole batch at once.
    reply_to = models.CharField(max_length=32, blank=True)
    # The slug of the nearest message this one replies to, archived or not yet:
    # when that message arrives later it adopts this one (out-of-order mail, imports).
    parent_slug = models.CharField(max_length=32, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)  # space-separated Message-IDs
    subject = models.CharField(max_length=998, blank=True)
    author_name = models.CharField(max_length=200, blank=True)
    author_email = models.CharField(max_length=254, blank=True)
    date = models.DateTimeField()
    body_text = models.TextField(blank=True)
    # Only for messages without a text/plain part; sanitised when shown.
    body_html = models.TextField(blank=True)
    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    attachments = models.JSONField(default=list, blank=True)
    # Reply order inside the thread: the parent's path plus this message's
    # sequence number in the thread, so ORDER BY path is depth-first by arrival.
    path = models.TextField()
    depth = models.PositiveSmallIntegerField(default=0)
    archived = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "slug"], name="archive_message_slug")
        ]
        indexes = [
            # Covers the month page by thread: (date, thread) read from the index alone.
            models.Index(
                fields=["mailing_list", "date", "thread"], name="archive_msg_date_thread_idx"
            ),
            # Reply order: a page of a thread, a message's neighbours and position.
            models.Index(fields=["thread", "path"], name="archive_msg_thread_path_idx"),
            models.Index(fields=["mailing_list", "parent_slug"], name="archive_msg_parent_idx"),
            models.Index(fields=["author_email"], name="archive_msg_author_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or self.message_id


class Month(models.Model):
    """How many messages a list's archive holds per month (the index page)."""

    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="archive_months"
    )
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailing_list", "year", "month"], name="archive_month_unique"
            )
        ]
        ordering = ["-year", "-month"]


class Removed(models.Model):
    """A message taken out of the archive (data protection): never archived again.

    Only the slug is kept, not the Message-ID or anything about the author,
    so a re-import or the same post sent again does not bring it back.
    """

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="+")
    slug = models.CharField(max_length=32)
    removed = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "slug"], name="archive_removed_slug")
        ]
