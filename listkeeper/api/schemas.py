"""Request and response shapes; the OpenAPI schema is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ninja import Field, Schema

from listkeeper.lists.models import (
    ArchiveVisibility,
    DeliveryMode,
    NonMemberAction,
    PostingPolicy,
    ReplyTo,
    Role,
    Source,
    Status,
    UnauthenticatedAction,
)
from listkeeper.mail.models import PostStatus

# Literals (not the Django enums) so a wrong value is answered with the allowed
# ones. They are built from the enums at run time, which mypy cannot follow: to
# the type checker they are plain strings.
if TYPE_CHECKING:
    PostingPolicyValue = str
    NonMemberActionValue = str
    UnauthenticatedActionValue = str
    ReplyToValue = str
    RoleValue = str
    StatusValue = str
    DeliveryValue = str
    SourceValue = str
    PostStatusValue = str
    ArchiveVisibilityValue = str
else:
    PostingPolicyValue = Literal[tuple(PostingPolicy.values)]
    NonMemberActionValue = Literal[tuple(NonMemberAction.values)]
    UnauthenticatedActionValue = Literal[tuple(UnauthenticatedAction.values)]
    ReplyToValue = Literal[tuple(ReplyTo.values)]
    RoleValue = Literal[tuple(Role.values)]
    StatusValue = Literal[tuple(Status.values)]
    DeliveryValue = Literal[tuple(DeliveryMode.values)]
    SourceValue = Literal[tuple(Source.values)]
    PostStatusValue = Literal[tuple(PostStatus.values)]
    ArchiveVisibilityValue = Literal[tuple(ArchiveVisibility.values)]


class FieldError(Schema):
    loc: list[str | int] = Field(..., description='Where: e.g. ["body", "body", "posting_policy"]')
    msg: str
    type: str


class Error(Schema):
    """Every error answer; `errors` only for malformed input (one entry per field)."""

    detail: str = Field(..., description="What was wrong, with the value, and what to do")
    errors: list[FieldError] | None = None


# Lists ---------------------------------------------------------------------


class ListSettings(Schema):
    """Settings an owner may change; every field optional in an update."""

    display_name: str | None = Field(None, max_length=200)
    description: str | None = None
    posting_policy: PostingPolicyValue | None = None
    nonmember_action: NonMemberActionValue | None = None
    unauthenticated_action: UnauthenticatedActionValue | None = None
    subject_tag: str | None = Field(None, max_length=60)
    personalised: bool | None = None
    # SES takes at most 40 MB per message; the column is a 32-bit integer.
    max_message_size: int | None = Field(None, ge=1024, le=40 * 1024 * 1024)
    reply_to: ReplyToValue | None = None
    public: bool | None = None
    footer: bool | None = None
    send_welcome: bool | None = None
    send_goodbye: bool | None = None
    held_expiry_days: int | None = Field(None, ge=1, le=365)
    bounce_score_threshold: float | None = Field(None, gt=0)
    time_zone: str | None = Field(None, max_length=64, examples=["Europe/Berlin"])
    digests_enabled: bool | None = None
    digest_frequency: Literal["daily", "weekly"] | None = None
    digest_weekday: int | None = Field(None, ge=0, le=6, description="0 is Monday")
    digest_hour: int | None = Field(None, ge=0, le=23, description="In the list's time zone")
    digest_size_kb: int | None = Field(
        None, ge=1, le=40 * 1024, description="Send early past this size"
    )
    digest_header: str | None = None
    digest_footer: str | None = None
    archive_visibility: ArchiveVisibilityValue | None = None


class ListCreate(ListSettings):
    local_part: str = Field(..., description="The list's name: NAME@DOMAIN", examples=["community"])
    domain: str | None = Field(None, description="Defaults to LISTKEEPER_DOMAIN")
    owners: list[str] = Field(default_factory=list, description="Addresses made owners of the list")


class ListUpdate(ListSettings):
    pass


class ListOut(Schema):
    id: int
    address: str
    local_part: str
    domain: str
    display_name: str
    description: str
    posting_policy: PostingPolicyValue
    nonmember_action: NonMemberActionValue
    unauthenticated_action: UnauthenticatedActionValue
    subject_tag: str
    personalised: bool
    max_message_size: int
    reply_to: ReplyToValue
    public: bool
    footer: bool
    send_welcome: bool
    send_goodbye: bool
    held_expiry_days: int
    bounce_score_threshold: float
    time_zone: str
    digests_enabled: bool
    digest_frequency: Literal["daily", "weekly"]
    digest_weekday: int
    digest_hour: int
    digest_size_kb: int
    digest_header: str
    digest_footer: str
    archive_visibility: ArchiveVisibilityValue
    created: datetime
    active_members: int
    held_posts: int
    can_manage: bool = Field(..., description="False where the caller only moderates")


# Subscriptions -------------------------------------------------------------


class SubscriptionOut(Schema):
    id: int
    member_id: int
    email: str
    name: str
    status: StatusValue
    role: RoleValue
    delivery: DeliveryValue
    delivery_next: DeliveryValue | Literal[""] = Field(
        "",
        description="A switch between regular and digest waiting for the next digest issue "
        "(it then becomes `delivery`); empty when none is waiting.",
    )
    moderated: bool
    source: SourceValue
    created: datetime
    updated: datetime


class SubscriptionPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[SubscriptionOut]


class SubscribeIn(Schema):
    address: str = Field(..., examples=["Alice Example <alice@example.com>"])
    name: str = Field("", max_length=200)
    role: RoleValue = "member"
    delivery: DeliveryValue | None = None


class SubscribeOut(Schema):
    outcome: Literal["created", "reactivated", "already"]
    subscription: SubscriptionOut


class SubscriptionUpdate(Schema):
    role: RoleValue | None = None
    delivery: DeliveryValue | None = None


class BulkRowIn(Schema):
    address: str
    name: str = Field("", max_length=200)


BulkIn = list[str | BulkRowIn]


class BulkRowOut(Schema):
    row: int = Field(..., description="Position in the request, from 0")
    input: str
    outcome: Literal["added", "reactivated", "already", "banned", "duplicate", "invalid"]
    email: str | None = None
    error: str | None = None


class BulkOut(Schema):
    added: int
    reactivated: int
    already: int
    banned: int
    duplicate: int
    invalid: int
    rows: list[BulkRowOut]


# Members -------------------------------------------------------------------


class MembershipOut(Schema):
    list_id: int
    list_address: str
    status: StatusValue
    role: RoleValue
    delivery: DeliveryValue


class MemberOut(Schema):
    id: int
    email: str
    name: str
    created: datetime
    lists: list[MembershipOut]


class MemberUpdate(Schema):
    email: str | None = Field(
        None, description="A new address; if another member has it, the two are merged"
    )
    name: str | None = Field(None, max_length=200)


# Held posts ----------------------------------------------------------------


class PostOut(Schema):
    id: int
    list_id: int
    sender: str
    author: str
    subject: str
    received: datetime
    size: int
    status: PostStatusValue
    reason: str
    decided: datetime | None = None
    decided_by: str


class ApproveIn(Schema):
    always_allow: bool = Field(False, description="Also let this sender post without moderation")


class RejectIn(Schema):
    reason: str = Field("", max_length=1000, description="Sent to the sender")
