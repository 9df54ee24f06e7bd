"""SES notifications delivered by SNS: Bounce, Complaint, Delivery (and Send).

Identity notifications name the kind in `notificationType`, configuration-set
events in `eventType`; the bodies are otherwise the same. SES adds fields at
will, so everything is read with defaults.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from listkeeper.feedback import outcomes, sns, verp
from listkeeper.feedback.models import EventKind, EventSource, SnsMessage
from listkeeper.lists.models import MailingList
from listkeeper.lists.routing import resolve

log = logging.getLogger(__name__)


def record_rejection(message: dict[str, Any] | None, reason: str, remote_addr: str) -> SnsMessage:
    message = message or {}
    return SnsMessage.objects.create(
        message_id=str(message.get("MessageId", ""))[:100],
        type=str(message.get("Type", ""))[:40],
        topic_arn=str(message.get("TopicArn", ""))[:300],
        verified=False,
        reason=reason[:300],
        remote_addr=remote_addr[:64],
    )


def handle(message: dict[str, Any], remote_addr: str = "") -> str:
    """Act on a verified SNS message once, however often SNS delivers it."""
    try:
        with transaction.atomic():
            row = SnsMessage.objects.create(
                message_id=str(message["MessageId"])[:100],
                type=message["Type"],
                topic_arn=message["TopicArn"][:300],
                verified=True,
                remote_addr=remote_addr[:64],
            )
            result = _dispatch(message)
            row.result = result[:300]
            row.save(update_fields=["result"])
    except IntegrityError:
        return "already processed"
    return result


def _dispatch(message: dict[str, Any]) -> str:
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        sns.confirm_subscription(message)
        log.info("confirmed the SNS subscription to %s", message["TopicArn"])
        return "subscription confirmed"
    if kind == "UnsubscribeConfirmation":
        log.warning("SNS says we were unsubscribed from %s", message["TopicArn"])
        return "unsubscribed from the topic (nothing done)"
    try:
        event = json.loads(message["Message"])
    except ValueError:
        return "ignored: the notification's Message is not JSON"
    if not isinstance(event, dict):
        return "ignored: the notification's Message is not an SES event"
    return process_event(event)


def process_event(event: dict[str, Any]) -> str:
    kind = event.get("notificationType") or event.get("eventType") or ""
    mail = _dict(event.get("mail"))
    ses_id = str(mail.get("messageId", ""))
    if kind == "Bounce":
        bounce = _dict(event.get("bounce"))
        bounce_type = str(bounce.get("bounceType", ""))
        what = EventKind.HARD_BOUNCE if bounce_type == "Permanent" else EventKind.SOFT_BOUNCE
        when = _time(bounce.get("timestamp")) or _time(mail.get("timestamp"))
        lines = []
        for item in _list(bounce.get("bouncedRecipients")):
            address = str(item.get("emailAddress", ""))
            status = str(item.get("status", ""))
            detail = " ".join(
                x
                for x in (
                    f"{bounce_type}/{bounce.get('bounceSubType', '')}",
                    str(item.get("diagnosticCode", "")),
                )
                if x
            )
            lines.append(
                _apply(what, address, mail, ses_id, status=status, detail=detail, when=when)
            )
        return "; ".join(lines) or "bounce without recipients"
    if kind == "Complaint":
        complaint = _dict(event.get("complaint"))
        detail = str(
            complaint.get("complaintFeedbackType")
            or complaint.get("complaintSubType")
            or "complaint"
        )
        when = _time(complaint.get("timestamp")) or _time(mail.get("timestamp"))
        lines = [
            _apply(
                EventKind.COMPLAINT,
                str(item.get("emailAddress", "")),
                mail,
                ses_id,
                detail=detail,
                when=when,
            )
            for item in _list(complaint.get("complainedRecipients"))
        ]
        return "; ".join(lines) or "complaint without recipients"
    if kind == "Delivery":
        delivery = _dict(event.get("delivery"))
        when = _time(delivery.get("timestamp")) or _time(mail.get("timestamp"))
        detail = str(delivery.get("smtpResponse", ""))
        lines = [
            _apply(EventKind.DELIVERED, str(address), mail, ses_id, detail=detail, when=when)
            for address in delivery.get("recipients") or []
        ]
        return "; ".join(lines) or "delivery without recipients"
    if kind == "Send":
        when = _time(mail.get("timestamp"))
        lines = [
            _apply(EventKind.ACCEPTED, str(address), mail, ses_id, when=when)
            for address in mail.get("destination") or []
        ]
        return "; ".join(lines) or "send without recipients"
    return f"ignored: {kind or 'unknown'} event"


def _apply(
    kind: str,
    address: str,
    mail: dict[str, Any],
    ses_id: str,
    *,
    status: str = "",
    detail: str = "",
    when: datetime | None = None,
) -> str:
    if "@" not in address:
        return f"{kind}: no recipient address"
    proof, ml = _origin(mail)
    if proof is not None and proof.names(address):
        target = outcomes.target_of(proof)
    else:
        if proof is not None and ml is None:
            ml = proof.mailing_list
        target = outcomes.find_target(address, mailing_list=ml)
    return outcomes.apply(
        kind,
        target,
        source=EventSource.SNS,
        status=status,
        detail=detail,
        ses_message_id=ses_id,
        occurred=when,
    )


def _origin(mail: dict[str, Any]) -> tuple[verp.Proof | None, MailingList | None]:
    """The copy (or probe) and list a message came from: its envelope sender is our VERP address.

    `mail.source` is the envelope sender; with headers included, Return-Path
    and List-Id say the same. The notification itself is signed by SNS, so
    the token only has to tell which copy it was.
    """
    candidates = [str(mail.get("source", ""))]
    list_id = ""
    for header in _list(mail.get("headers")):
        name = str(header.get("name", "")).lower()
        if name == "return-path":
            candidates.append(str(header.get("value", "")))
        elif name == "list-id":
            list_id = str(header.get("value", ""))
    for address in candidates:
        proof = verp.read(address)
        if proof.ok:
            return proof, None
    for address in candidates:
        route = resolve(address) if "@" in address else None
        if route is not None and route.kind == "bounces":
            return None, route.mailing_list
    return None, _list_by_id(list_id)


def _list_by_id(header: str) -> MailingList | None:
    """The list a List-Id header (`Name <local.domain>`) names."""
    value = header.rpartition("<")[2].rstrip(">").strip().lower()
    for i, ch in enumerate(value):
        if ch == ".":
            found = MailingList.objects.filter(local_part=value[:i], domain=value[i + 1 :]).first()
            if found:
                return found
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    try:
        return parse_datetime(str(value)) if value else None
    except ValueError:
        return None
