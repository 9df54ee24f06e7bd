"""Delivery reports mailed to NAME-bounces[+TOKEN]@DOMAIN.

They come from our own Postfix (a copy SES refused), from SES (email feedback
forwarding) and from anyone else on the internet. A report is acted on only
when it proves itself (feedback/verp.py): it arrives at a VERP address whose
token verifies, and the failed recipient it reports is the one that token
was made for. Every other report is stored, shown to the list's owners with
the reason, and changes nothing.

The RFC 3464 Status code says permanent (5.x.x) or temporary (4.x.x).
Reports that are not RFC 3464 are read with flufl.bounce, the detector GNU
Mailman uses.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import dataclass
from email.message import Message

import flufl.bounce
from django.utils import timezone

from listkeeper.feedback import outcomes, verp
from listkeeper.feedback.models import EventKind, EventSource
from listkeeper.lib.addresses import address_key
from listkeeper.mail.models import InboundKind, InboundMessage

log = logging.getLogger(__name__)

SMTP_REPLY_RE = re.compile(r"([245])\d\d(?!\d)")
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

# Plain-text warnings that a copy is still being retried (Exim, Sendmail, qmail).
DELAY_WARNING_RE = re.compile(
    r"^warning: message .* delayed|has not yet been delivered|delivery attempts will continue"
    r"|will (?:continue to )?(?:retry|try again)|^delayed mail",
    re.IGNORECASE | re.MULTILINE,
)

AUTO_REPLY_SUBJECT_RE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response)|out of (the )?office|abwesenheit|auto:)", re.IGNORECASE
)


@dataclass
class Report:
    """One per-recipient block of a delivery report, or one address flufl.bounce found."""

    email: str
    kind: str | None  # EventKind.HARD_BOUNCE / SOFT_BOUNCE / COMPLAINT, None for warnings
    status: str = ""
    detail: str = ""
    # Other addresses the same block gives for that recipient (Final-Recipient
    # beside Original-Recipient, X-Actual-Recipient).
    aliases: tuple[str, ...] = ()

    def names(self, proof: verp.Proof) -> bool:
        return any(proof.names(a) for a in (self.email, *self.aliases))


def process_inbound(inbound: InboundMessage) -> str:
    """Act on one stored delivery report; record and return what was done. Idempotent."""
    if inbound.processed is not None:
        return inbound.result
    unproven = ""
    if inbound.kind != InboundKind.BOUNCE:
        result = f"not a delivery report (kind {inbound.kind})"
    else:
        try:
            result, unproven = _process(inbound)
        except Exception:  # a malformed report must not block the ones behind it
            log.exception("delivery report %s could not be processed", inbound.id)
            result = "error: could not read this report (see the log)"
    if unproven:
        log.warning("delivery report %s not acted on: %s (%s)", inbound.id, unproven, result[:300])
    inbound.processed = timezone.now()
    inbound.result = result
    inbound.unproven = unproven[:300]
    inbound.save(update_fields=["processed", "result", "unproven"])
    return inbound.result


def _process(inbound: InboundMessage) -> tuple[str, str]:
    """What was done, and why the report was not acted on ("" when it proved itself)."""
    msg = email.message_from_bytes(bytes(inbound.raw))
    proof = verp.read(inbound.recipient, inbound.mailing_list)
    if _is_complaint(msg):
        reports = _complaint_reports(msg, proof)
        if not reports:
            return "ignored: complaint report without a recipient", ""
    else:
        reports = failures(msg)
        if not reports:
            # Vacation replies sent to the envelope sender are not failures (the
            # check comes late because Exim marks its real bounces auto-replied).
            if _is_auto_reply(msg):
                return "ignored: an automatic reply, not a delivery report", ""
            reports = _unreadable(msg, proof)
    failing = [r for r in reports if r.kind is not None]
    if not failing:
        lines = [
            f"{r.email}: {r.status or 'no failure'} (warning or success, ignored)" for r in reports
        ]
        return "; ".join(lines) or "ignored: no failed recipient found", ""
    if not proof.ok:
        return _describe(failing, "not acted on"), proof.error
    lines = []
    strangers = []
    for report in reports:
        if report.kind is None:
            lines.append(
                f"{report.email}: {report.status or 'no failure'} (warning or success, ignored)"
            )
        elif not report.names(proof):
            # A VERP token names one copy; a report about anyone else proves nothing.
            strangers.append(report.email)
            lines.append(f"{report.email}: not acted on, the token was made for {proof.email}")
        elif report.kind != EventKind.COMPLAINT and OUR_FAULT_RE.search(report.detail):
            log.warning("SES or Postfix refused a copy for a reason of ours: %s", report.detail)
            lines.append(
                f"{report.email}: refused for a reason of ours, not counted: {report.detail[:80]}"
            )
        else:
            lines.append(
                outcomes.apply(
                    report.kind,
                    outcomes.target_of(proof),
                    source=EventSource.DSN,
                    status=report.status,
                    detail=report.detail,
                )
            )
    unproven = ""
    if strangers:
        named = (
            ", ".join(strangers)
            if len(strangers) <= 3
            else f"{strangers[0]} and {len(strangers) - 1} other addresses"
        )
        unproven = f"reports {named}, but its VERP token was made for {proof.email}"
    return "; ".join(lines), unproven


def _describe(reports: list[Report], what: str) -> str:
    return "; ".join(
        f"{r.email}: {r.kind} {r.status or ''}".rstrip() + f", {what}" for r in reports
    )


def failures(msg: Message) -> list[Report]:
    """What one delivery report says about each recipient: RFC 3464 first, else heuristics.

    The reader on its own, without acting on anything (bench/dsn_samples.py
    compares it with flufl.bounce).
    """
    return read_reports(msg) or _heuristic_reports(msg)


def classify(action: str, status: str, detail: str = "") -> str | None:
    """Hard or soft bounce from an RFC 3464 Action and Status; None if not a failure."""
    action = action.strip().lower()
    if action.startswith("delayed") or action.startswith(("delivered", "relayed", "expanded")):
        return None
    if status == "4.4.7" and action.startswith(("failed", "error")):
        # Delivery time expired: the sending MTA gave up retrying for good.
        return EventKind.HARD_BOUNCE
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
            addresses = [
                a
                for a in (
                    _address(block.get("Original-Recipient", "")),
                    _address(block.get("Final-Recipient", "")),
                    _address(block.get("X-Actual-Recipient", "")),
                )
                if a
            ]
            if not addresses:
                continue
            action = str(block.get("Action", ""))
            status = _status(str(block.get("Status", "")))
            detail = " ".join(str(block.get("Diagnostic-Code", "")).split())
            reports.append(
                Report(
                    addresses[0],
                    classify(action, status, detail),
                    status,
                    detail,
                    aliases=tuple(addresses[1:]),
                )
            )
    return reports


def _heuristic_reports(msg: Message) -> list[Report]:
    try:
        temporary, permanent = flufl.bounce.all_failures(msg)
    except Exception:  # some detectors trip over a message with no From
        log.warning("flufl.bounce could not read a delivery report", exc_info=True)
        return []
    text = _text(msg)
    if DELAY_WARNING_RE.search(str(msg.get("Subject", ""))) or DELAY_WARNING_RE.search(text):
        # flufl.bounce reads Exim's "delayed 24 hours" warning as a failure.
        temporary, permanent = temporary | permanent, frozenset()
    status = _first_failure_status(text)
    detail = _diagnostic_line(text, status)
    # flufl.bounce's temporary failures are delay warnings: the copy may still arrive.
    reports = [Report(a.decode("ascii", "replace"), None, "delayed") for a in sorted(temporary)]
    reports += [
        Report(a.decode("ascii", "replace"), classify("failed", status, detail), status, detail)
        for a in sorted(permanent)
    ]
    return reports


def _unreadable(msg: Message, proof: verp.Proof) -> list[Report]:
    """A report nothing can read: it names the member only if their address is in its text.

    Without a 5.x.x code it counts as temporary, so one odd message never disables anyone.
    """
    if not proof.ok:
        return []
    text = _text(msg)
    if address_key(proof.email) not in text.lower():
        return []
    status = _first_failure_status(text)
    detail = _diagnostic_line(text, status) or "unreadable delivery report"
    kind = classify("failed", status, detail) if status else EventKind.SOFT_BOUNCE
    return [Report(proof.email, kind, status, detail)]


def _is_complaint(msg: Message) -> bool:
    return any(p.get_content_type() == "message/feedback-report" for p in msg.walk())


def _complaint_reports(msg: Message, proof: verp.Proof) -> list[Report]:
    """An ARF report (RFC 5965), e.g. SES forwarding a complaint by mail.

    Mailbox providers often redact the complainant's address; the returned
    copy's VERP token then says whose it was.
    """
    address = ""
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            first = payload[0] if isinstance(payload, list) and payload else None
            fields = (
                first if isinstance(first, Message) else email.message_from_string(str(payload))
            )
            address = _address(fields.get("Original-Rcpt-To", ""))
    if not address and proof.ok:
        address = proof.email
    if not address:
        return []
    return [Report(address, EventKind.COMPLAINT, detail="feedback report")]


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
    """The x.y.z code of a Status field; a bare SMTP reply code (553 ...) as its class (5.0.0)."""
    match = STATUS_RE.search(value)
    if match:
        return match.group(0)
    reply = SMTP_REPLY_RE.match(value.strip())
    return f"{reply.group(1)}.0.0" if reply else ""


def _text(msg: Message) -> str:
    """The human-readable parts of a report, without the returned message."""
    chunks = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                chunks.append(decode(payload, part.get_content_charset()))
    text = "\n".join(chunks)
    # Plain-text reports quote the returned message after a marker line.
    cut = RETURNED_COPY_RE.search(text)
    return text[: cut.start()] if cut else text


def decode(payload: bytes, charset: str | None) -> str:
    """Text in the part's charset; one Python does not know (ansi_x3.110-1983) as UTF-8."""
    try:
        return payload.decode(charset or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


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
