"""The delivery ledger: who gets each message, and how far each copy got.

Creating a Delivery is all the LMTP transaction does; the worker fans out.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import F, Q

from listkeeper.delivery.models import Delivery, Recipient, RecipientState
from listkeeper.lists.models import DeliveryMode, Post, Status, Subscription, Suppression


def recipients_of(list_id: int) -> Q:
    """Subscriptions that receive a post right now."""
    return Q(
        mailing_list_id=list_id,
        status=Status.ACTIVE,
        delivery=DeliveryMode.REGULAR,
    ) & ~Q(member__key__in=Suppression.objects.values("key"))


@transaction.atomic
def enqueue_post(post: Post, message: bytes, envelope_from: str) -> Delivery:
    """Record the post's recipients as they are now, in one INSERT ... SELECT.

    One statement whatever the list size, so the LMTP reply stays fast.
    """
    ml = post.mailing_list
    delivery = Delivery.objects.create(
        post=post, message=message, envelope_from=envelope_from, personalised=ml.personalised
    )
    subs = Subscription.objects.filter(recipients_of(ml.id))
    select_sql, params = subs.annotate(rcpt=F("member__email")).values("member_id", "rcpt").query.sql_with_params()
    recipient_table = Recipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {recipient_table} (delivery_id, member_id, email, state, claimed_by, error) "
            f"SELECT %s, sub.member_id, sub.rcpt, %s, '', '' FROM ({select_sql}) AS sub",
            [delivery.id, RecipientState.PENDING, *params],
        )
        total = cursor.rowcount
    Delivery.objects.filter(id=delivery.id).update(total=total)
    delivery.total = total
    return delivery


@transaction.atomic
def enqueue_message(message: bytes, recipients: Sequence[str], envelope_from: str) -> Delivery:
    """A message we send ourselves (confirmation, notice) to a few addresses."""
    delivery = Delivery.objects.create(
        message=message, envelope_from=envelope_from, personalised=False, total=len(recipients)
    )
    Recipient.objects.bulk_create(
        Recipient(delivery=delivery, email=email) for email in recipients
    )
    return delivery
