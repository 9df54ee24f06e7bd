from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy


class RouteKind(StrEnum):
    """Which of a list's addresses mail was sent to (see lists/routing.py)."""

    POST = "post"  # NAME@DOMAIN
    REQUEST = "request"  # NAME-request@DOMAIN
    OWNER = "owner"  # NAME-owner@DOMAIN
    BOUNCES = "bounces"  # NAME-bounces[+TOKEN]@DOMAIN


# Suffixes of a list's own addresses: NAME-request, NAME-owner, NAME-bounces.
LIST_SUFFIXES = (RouteKind.REQUEST, RouteKind.OWNER, RouteKind.BOUNCES)


class Member(models.Model):
    """One person, one address, on any number of lists."""

    email = models.CharField(max_length=254)
    # Lowercased email: what makes two addresses one member.
    key = models.CharField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # The language of the notices Listkeeper writes to this person (a code from
    # settings.LANGUAGES); empty: the language of the page they used, else the site's.
    language = models.CharField(max_length=10, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.email


class PostingPolicy(models.TextChoices):
    OPEN = "open", gettext_lazy("Open: anyone may post")
    MEMBERS = "members", gettext_lazy("Members only")
    MODERATED = "moderated", gettext_lazy("Moderated: every post is held")
    ANNOUNCE = "announce", gettext_lazy("Announce only: named posters")


class ReplyTo(models.TextChoices):
    LIST = "list", gettext_lazy("The list")
    AUTHOR = "author", gettext_lazy("The author")


class NonMemberAction(models.TextChoices):
    HOLD = "hold", gettext_lazy("Hold for moderation")
    REJECT = "reject", gettext_lazy("Reject")


class DeliveryMode(models.TextChoices):
    REGULAR = "regular", gettext_lazy("Regular")
    DIGEST = "digest", gettext_lazy("Digest (MIME)")
    DIGEST_PLAIN = "digest-plain", gettext_lazy("Digest (plain text)")
    NOMAIL = "nomail", gettext_lazy("No mail")


DIGEST_MODES = (DeliveryMode.DIGEST, DeliveryMode.DIGEST_PLAIN)


class DigestFrequency(models.TextChoices):
    DAILY = "daily", gettext_lazy("Daily")
    WEEKLY = "weekly", gettext_lazy("Weekly")


class Weekday(models.IntegerChoices):
    MONDAY = 0, gettext_lazy("Monday")
    TUESDAY = 1, gettext_lazy("Tuesday")
    WEDNESDAY = 2, gettext_lazy("Wednesday")
    THURSDAY = 3, gettext_lazy("Thursday")
    FRIDAY = 4, gettext_lazy("Friday")
    SATURDAY = 5, gettext_lazy("Saturday")
    SUNDAY = 6, gettext_lazy("Sunday")


class ArchiveVisibility(models.TextChoices):
    PUBLIC = "public", gettext_lazy("Public: anyone may read it")
    MEMBERS = "members", gettext_lazy("Members only: subscribers who sign in")
    PRIVATE = "private", gettext_lazy("Private: owners and moderators")
    OFF = "off", gettext_lazy("Off: posts are not archived")


class UnauthenticatedAction(models.TextChoices):
    HOLD = "hold", gettext_lazy("Hold for moderation")
    REJECT = "reject", gettext_lazy("Reject")
    ACCEPT = "accept", gettext_lazy("Accept (trust the From address)")


class MailingList(models.Model):
    local_part = models.CharField(max_length=64)
    domain = models.CharField(max_length=253)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    posting_policy = models.CharField(
        max_length=16, choices=PostingPolicy.choices, default=PostingPolicy.MEMBERS
    )
    nonmember_action = models.CharField(
        max_length=8, choices=NonMemberAction.choices, default=NonMemberAction.HOLD
    )
    # A post whose From is a member but fails the From domain's DMARC
    # p=quarantine/reject (mail/authentication.py, rules.authentication).
    # db_default too: rows written by SQL outside Django (deploy checks) get it.
    unauthenticated_action = models.CharField(
        max_length=8,
        choices=UnauthenticatedAction.choices,
        default=UnauthenticatedAction.HOLD,
        db_default=UnauthenticatedAction.HOLD,
    )
    subject_tag = models.CharField(max_length=60, blank=True)
    personalised = models.BooleanField(default=True)
    max_message_size = models.PositiveIntegerField(default=10 * 1024 * 1024)
    reply_to = models.CharField(max_length=8, choices=ReplyTo.choices, default=ReplyTo.LIST)
    public = models.BooleanField(default=True)
    footer = models.BooleanField(default=True)
    send_welcome = models.BooleanField(default=True)
    send_goodbye = models.BooleanField(default=False)
    held_expiry_days = models.PositiveIntegerField(default=14)
    bounce_score_threshold = models.FloatField(default=5.0)
    # Who may read the web archive; "off" archives nothing. Changing it applies
    # to every archived message at once (it is read on every page).
    archive_visibility = models.CharField(
        max_length=8, choices=ArchiveVisibility.choices, default=ArchiveVisibility.MEMBERS
    )
    created = models.DateTimeField(default=timezone.now)
    # An IANA zone name: digests go out at `digest_hour` local time.
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
    # Digests (delivery/digests.py): when an issue is cut and what frames it.
    # Database defaults too, so rows written by other tools (SQL, older code
    # during an upgrade) get them.
    digests_enabled = models.BooleanField(default=True, db_default=True)
    digest_frequency = models.CharField(
        max_length=8,
        choices=DigestFrequency.choices,
        default=DigestFrequency.DAILY,
        db_default=DigestFrequency.DAILY,
    )
    digest_weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.MONDAY, db_default=Weekday.MONDAY
    )
    digest_hour = models.PositiveSmallIntegerField(default=6, db_default=6)
    # Pending posts bigger than this (KB) make an issue go out before its time.
    digest_size_kb = models.PositiveIntegerField(default=100, db_default=100)
    digest_header = models.TextField(blank=True, default="", db_default="")
    digest_footer = models.TextField(blank=True, default="", db_default="")

    class Meta:
        ordering = ["domain", "local_part"]
        constraints = [
            models.UniqueConstraint(fields=["local_part", "domain"], name="unique_list_address")
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def name(self) -> str:
        return self.display_name or self.local_part

    def suffixed(self, suffix: RouteKind) -> str:
        return f"{self.local_part}-{suffix}@{self.domain}"

    @property
    def list_id(self) -> str:
        return f"{self.local_part}.{self.domain}"


class SenderKind(models.TextChoices):
    POSTER = "poster", gettext_lazy("May post to an announce-only list")
    ALLOWED = "allowed", gettext_lazy("Non-member always allowed to post")


class ListSender(models.Model):
    """Addresses with posting rights beyond membership."""

    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="senders")
    email = models.CharField(max_length=254)
    key = models.CharField(max_length=254)
    kind = models.CharField(max_length=8, choices=SenderKind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailing_list", "key", "kind"], name="unique_list_sender"
            )
        ]


class Status(models.TextChoices):
    ACTIVE = "active", gettext_lazy("Active")
    PENDING = "pending", gettext_lazy("Pending confirmation")
    UNSUBSCRIBED = "unsubscribed", gettext_lazy("Unsubscribed")
    DISABLED = "disabled", gettext_lazy("Disabled (bounces)")


class Role(models.TextChoices):
    MEMBER = "member", gettext_lazy("Member")
    MODERATOR = "moderator", gettext_lazy("Moderator")
    OWNER = "owner", gettext_lazy("Owner")


class Source(models.TextChoices):
    IMPORT = "import", gettext_lazy("Import")
    WEB = "web", gettext_lazy("Web")
    API = "api", gettext_lazy("API")
    EMAIL = "email", gettext_lazy("Email")
    ADMIN = "admin", gettext_lazy("Admin")


class Subscription(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="subscriptions")
    mailing_list = models.ForeignKey(
        MailingList, on_delete=models.CASCADE, related_name="subscriptions"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    delivery = models.CharField(
        max_length=12, choices=DeliveryMode.choices, default=DeliveryMode.REGULAR
    )
    # A switch between each post and a digest waits for the next digest issue
    # to be cut (docs/digests.md: exactly once); "" when none is waiting.
    delivery_next = models.CharField(
        max_length=12, choices=DeliveryMode.choices, blank=True, default="", db_default=""
    )
    moderated = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    # A copy of member.key, so a list's members sort by address from one index:
    # pages of a 100,000-member list without joining and sorting every member.
    # services keep it in step (subscribe, bulk_subscribe, change_address).
    member_key = models.CharField(max_length=254, default="", blank=True)
    # Bounce handling: a decaying score and why delivery was disabled.
    bounce_score = models.FloatField(default=0.0)
    last_bounce = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "mailing_list"], name="unique_subscription")
        ]
        indexes = [
            # Who receives a post, in subscription order: the ledger records a
            # big list 500 or 5,000 at a time from a cursor (ledger._record_chunk),
            # and with `id` last PostgreSQL walks just those entries; without
            # it, it read and sorted all 100,000 subscriptions of a list on
            # every chunk (76-100 ms of the LMTP accept). SQLite's indexes end
            # in the rowid anyway.
            models.Index(
                fields=["mailing_list", "status", "delivery", "id"], name="sub_list_receiving_idx"
            ),
            models.Index(fields=["mailing_list", "member_key", "id"], name="sub_list_key_idx"),
            models.Index(fields=["mailing_list", "created", "id"], name="sub_list_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member} on {self.mailing_list} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.member_key and self.member_id:
            self.member_key = (
                Member.objects.filter(id=self.member_id).values_list("key", flat=True).first() or ""
            )
        super().save(*args, **kwargs)


class Ban(models.Model):
    """An exact address or a pattern like *@spam.example; no list = site-wide."""

    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.CASCADE, related_name="bans"
    )
    pattern = models.CharField(max_length=254)
    created = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailing_list", "pattern"], name="unique_ban")
        ]


class Suppression(models.Model):
    """Addresses we never mail again (hard bounces, complaints) until re-confirmed."""

    key = models.CharField(max_length=254, unique=True)
    reason = models.CharField(max_length=300)
    created = models.DateTimeField(default=timezone.now)
    # Complaints suppress bulk mail only; hard bounces suppress everything.
    bulk_only = models.BooleanField(default=False)


class AuditEntry(models.Model):
    created = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=200)  # user email, "command:NAME" or "system"
    action = models.CharField(max_length=60)
    mailing_list = models.ForeignKey(
        MailingList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor} {self.action}"
