"""Delivery reports mailed to NAME-bounces[+TOKEN]@DOMAIN.

They come from our own Postfix (a copy SES refused), from SES (email feedback
forwarding) and from other mail systems. The VERP token names the ledger row,
so the member and post are known without reading the report; the RFC 3464
Status code says permanent (5.x.x) or temporary (4.x.x). Reports that are not
RFC 3464, or arrive without a token, are read with flufl.bounce, the detector
GNU Mailman uses.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass
from email.message import Message

import flufl.bounce
from django.utils import timezone

from listkeeper.delivery.models import Recipient
from listkeeper.feedback import outcomes
from listkeeper.feedback.models import EventKind, EventSource
from listkeeper.lists.models import InboundKind, InboundMessage

log = logging.getLogger(__name__)

STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")

# Failures that are about us (the sender, the SES account), not the member's
# mailbox: counting them would disable a whole list for a configuration slip.
OUR_FAULT_RE = re.compile(
    r"email address is not verified|identities failed the check|throttling failure"
    r"|daily message quota exceeded|sending (?:is )?paused|account .{0,40}(?:suspended|paused)",
    re.IGNORECASE,
)

RETURNED_COPY_RE = re.compile(
    r"^-+ ?(this is a copy of|original message|below this line is a copy)",
    re.IGNORECASE | re.MULTILINE,
)

AUTO_REPLY_SUBJECT_RE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheit|auto:)", re.IGNORECASE
)


@dataclass
class Report:
    """One per-recipient block of a delivery report, or one address flufl.bounce found."""

    email: str
    kind: str | None  # EventKind.HARD_BOUNCE / SOFT_BOUNCE, None for warnings and successes
    status: str = ""
    detail: str = ""


def process_inbound(inbound: InboundMessage) -> str:
    """Act on one stored delivery report; record and return what was done. Idempotent."""
    if inbound.processed is not None:
        return inbound.result
    if inbound.kind != InboundKind.BOUNCE:
        result = f"not a delivery report (kind {inbound.kind})"
    else:
        try:
            result = _process(inbound)
        except Exception:  # a malformed report must not block the ones behind it
            log.exception("delivery report %s could not be processed", inbound.id)
            result = "error: could not read this report (see the log)"
    inbound.processed = timezone.now()
    inbound.result = result[:300]
    inbound.save(update_fields=["processed", "result"])
    return inbound.result


def _process(inbound: InboundMessage) -> str:
    msg = email.message_from_bytes(bytes(inbound.raw))
    ledger = outcomes.recipient_from_verp(inbound.recipient)
    if _is_complaint(msg):
        return _complaint(msg, ledger, inbound)
    reports = read_reports(msg)
    if not reports:
        reports = _heuristic_reports(msg)
    if not reports and ledger is not None:
        # Vacation replies sent to the envelope sender are not failures (the
        # check comes late because Exim marks its real bounces auto-replied).
        if _is_auto_reply(msg):
            return "ignored: an automatic reply, not a delivery report"
        reports = [_unreadable(msg, ledger)]
    if not reports:
        return "ignored: no failed recipient found"
    failing = [r for r in reports if r.kind is not None]
    if (
        ledger is not None
        and len(failing) == 1
        and failing[0].email.lower() != ledger.email.lower()
    ):
        # A VERP address names one copy: a forwarded or rewritten address in
        # the report is still that member's.
        failing[0].detail = f"reported for {failing[0].email}: {failing[0].detail}"
        failing[0].email = ledger.email
    lines = []
    for report in reports:
        if report.kind is None:
            lines.append(
                f"{report.email}: {report.status or 'no failure'} (warning or success, ignored)"
            )
            continue
        if OUR_FAULT_RE.search(report.detail):
            log.warning("SES or Postfix refused a copy for a reason of ours: %s", report.detail)
            lines.append(
                f"{report.email}: refused for a reason of ours, not counted: {report.detail[:80]}"
            )
            continue
        target = outcomes.find_target(
            report.email, recipient=ledger, mailing_list=inbound.mailing_list
        )
        lines.append(
            outcomes.apply(
                report.kind,
                target,
                source=EventSource.DSN,
                status=report.status,
                detail=report.detail,
            )
        )
    return "; ".join(lines)


def classify(action: str, status: str, detail: str = "") -> str | None:
    """Hard or soft bounce from an RFC 3464 Action and Status; None if not a failure."""
    action = action.strip().lower()
    if action.startswith("delayed") or action.startswith(("delivered", "relayed", "expanded")):
        return None
    if status.startswith("4"):
        return EventKind.SOFT_BOUNCE
    if status.startswith("5"):
        # Security and content refusals (5.7.x, 5.6.x) are usually about the
        # message or its sender, and a full mailbox (5.2.2) empties again:
        # let the score decide, as SES does for MailboxFull.
        if status.startswith(("5.7.", "5.6.")) or status == "5.2.2":
            return EventKind.SOFT_BOUNCE
        return EventKind.HARD_BOUNCE
    if action.startswith(("failed", "error")):
        code = STATUS_RE.search(detail)
        if code and code.group(1) == "4":
            return EventKind.SOFT_BOUNCE
        return EventKind.HARD_BOUNCE
    return None


def read_reports(msg: Message) -> list[Report]:
    """The per-recipient blocks of every message/delivery-status part (RFC 3464)."""
    reports = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        # The per-message block (Reporting-MTA) has no recipient and is skipped.
        for block in part.get_payload():
            if not isinstance(block, Message):
                continue
            address = (
                _address(block.get("Original-Recipient", ""))
                or _address(block.get("Final-Recipient", ""))
                or _address(block.get("X-Actual-Recipient", ""))
            )
            if not address:
                continue
            action = str(block.get("Action", ""))
            status = _status(str(block.get("Status", "")))
            detail = " ".join(str(block.get("Diagnostic-Code", "")).split())
            reports.append(Report(address, classify(action, status, detail), status, detail))
    return reports


def _heuristic_reports(msg: Message) -> list[Report]:
    try:
        temporary, permanent = flufl.bounce.all_failures(msg)
    except Exception:  # some detectors trip over a message with no From
        log.warning("flufl.bounce could not read a delivery report", exc_info=True)
        return []
    text = _text(msg)
    status = _first_failure_status(text)
    detail = _diagnostic_line(text, status)
    # flufl.bounce's temporary failures are delay warnings: the copy may still arrive.
    reports = [Report(a.decode("ascii", "replace"), None, "delayed") for a in sorted(temporary)]
    reports += [
        Report(a.decode("ascii", "replace"), classify("failed", status, detail), status, detail)
        for a in sorted(permanent)
    ]
    return reports


def _unreadable(msg: Message, ledger: Recipient) -> Report:
    """A report to a VERP address nothing can read: the token still says whose copy it was.

    Without a 5.x.x code it counts as temporary, so one odd message never disables anyone.
    """
    text = _text(msg)
    status = _first_failure_status(text)
    detail = _diagnostic_line(text, status) or "unreadable delivery report"
    kind = classify("failed", status, detail) if status else EventKind.SOFT_BOUNCE
    return Report(ledger.email, kind, status, detail)


def _is_complaint(msg: Message) -> bool:
    return any(p.get_content_type() == "message/feedback-report" for p in msg.walk())


def _complaint(msg: Message, ledger: Recipient | None, inbound: InboundMessage) -> str:
    """An ARF report (RFC 5965), e.g. SES forwarding a complaint by mail."""
    address = ""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            first = payload[0] if isinstance(payload, list) else None
            fields = (
                first if isinstance(first, Message) else email.message_from_string(str(payload))
            )
            address = _address(fields.get("Original-Rcpt-To", ""))
    if not address and ledger is not None:
        address = ledger.email
    if not address:
        return "ignored: complaint report without a recipient"
    target = outcomes.find_target(address, recipient=ledger, mailing_list=inbound.mailing_list)
    return outcomes.apply(
        EventKind.COMPLAINT, target, source=EventSource.DSN, detail="feedback report"
    )


def _is_auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no" and not auto.startswith("auto-generated"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(AUTO_REPLY_SUBJECT_RE.match(str(msg.get("Subject", ""))))


def _address(field: str) -> str:
    """The address of an `rfc822; user@example.org` field."""
    value = " ".join(str(field).split())
    if ";" in value:
        value = value.split(";", 1)[1]
    value = value.strip().strip("<>").strip()
    return value if "@" in value else ""


def _status(value: str) -> str:
    match = STATUS_RE.search(value)
    return match.group(0) if match else ""


def _text(msg: Message) -> str:
    """The human-readable parts of a report, without the returned message."""
    chunks = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    text = "\n".join(chunks)
    # Plain-text reports quote the returned message after a marker line.
    cut = RETURNED_COPY_RE.search(text)
    return text[: cut.start()] if cut else text


def _first_failure_status(text: str) -> str:
    codes = [m.group(0) for m in STATUS_RE.finditer(text)]
    return next((c for c in codes if c.startswith("5")), "") or next(
        (c for c in codes if c.startswith("4")), ""
    )


def _diagnostic_line(text: str, status: str) -> str:
    for line in text.splitlines():
        if status and status in line:
            return " ".join(line.split())[:300]
    return ""


def unprocessed() -> list[InboundMessage]:
    return list(
        InboundMessage.objects.filter(kind=InboundKind.BOUNCE, processed__isnull=True).order_by(
            "id"
        )
    )
