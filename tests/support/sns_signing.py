"""Signing SNS messages in tests the way SNS does, with a throwaway key and certificate."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC = "arn:aws:sns:eu-west-2:123456789012:ses-feedback"
CERT_URL = "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-west-2.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425c464de"
)

# Written out here rather than taken from the code under test (SNS developer guide).
SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}


@lru_cache(maxsize=1)
def key_and_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sign(
    message: dict[str, Any], version: str = "1", key: rsa.RSAPrivateKey | None = None
) -> dict[str, Any]:
    message = {**message, "SignatureVersion": version}
    message.setdefault("SigningCertURL", CERT_URL)
    text = "".join(
        f"{name}\n{message[name]}\n" for name in SIGNED[message["Type"]] if name in message
    ).encode()
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = (key or key_and_certificate()[0]).sign(text, padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def notification(
    event: dict[str, Any], *, when: datetime | None = None, topic: str = TOPIC, **extra: Any
) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(event),
        "Timestamp": iso(when or datetime.now(UTC)),
        "UnsubscribeURL": "https://sns.eu-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    message.update(extra)
    return message


def subscription_confirmation(
    topic: str = TOPIC, subscribe_url: str = SUBSCRIBE_URL
) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de",
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": iso(datetime.now(UTC)),
    }


def ses_mail(
    destination: list[str], source: str = "community-bounces@lists.example.org"
) -> dict[str, Any]:
    return {
        "timestamp": iso(datetime.now(UTC) - timedelta(seconds=5)),
        "source": source,
        "sourceArn": "arn:aws:ses:eu-west-2:123456789012:identity/lists.example.org",
        "sourceIp": "203.0.113.10",
        "sendingAccountId": "123456789012",
        "messageId": "0102019b5a1e8f7a-" + uuid.uuid4().hex[:8] + "-000000",
        "destination": destination,
        "headersTruncated": False,
        "headers": [
            {"name": "Return-Path", "value": f"<{source}>"},
            {"name": "From", "value": '"Alice via Community" <community@lists.example.org>'},
            {"name": "List-Id", "value": "Community <community.lists.example.org>"},
            {"name": "Subject", "value": "[Community] Saturday's meeting"},
        ],
        "commonHeaders": {
            "from": ['"Alice via Community" <community@lists.example.org>'],
            "to": ["community@lists.example.org"],
            "subject": "[Community] Saturday's meeting",
        },
    }


def bounce_event(
    recipients: list[str],
    bounce_type: str = "Permanent",
    sub_type: str = "General",
    *,
    form: str = "notificationType",
    source: str = "community-bounces@lists.example.org",
) -> dict[str, Any]:
    status = "5.1.1" if bounce_type == "Permanent" else "4.2.2"
    return {
        form: "Bounce",
        "bounce": {
            "feedbackId": "0102019b5a1e9a11-" + uuid.uuid4().hex[:8] + "-000000",
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {
                    "emailAddress": r,
                    "action": "failed",
                    "status": status,
                    "diagnosticCode": f"smtp; 550 {status} <{r}>: Recipient address rejected: User unknown",
                }
                for r in recipients
            ],
            "timestamp": iso(datetime.now(UTC)),
            "remoteMtaIp": "192.0.2.25",
            "reportingMTA": "dns; a4-21.smtp-out.eu-west-2.amazonses.com",
        },
        "mail": ses_mail(recipients, source),
    }


def complaint_event(
    recipients: list[str],
    *,
    form: str = "notificationType",
    source: str = "community-bounces@lists.example.org",
) -> dict[str, Any]:
    return {
        form: "Complaint",
        "complaint": {
            "feedbackId": "0102019b5a4d3c2b-" + uuid.uuid4().hex[:8] + "-000000",
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": r} for r in recipients],
            "timestamp": iso(datetime.now(UTC)),
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complaintFeedbackType": "abuse",
            "arrivalDate": iso(datetime.now(UTC) - timedelta(minutes=3)),
        },
        "mail": ses_mail(recipients, source),
    }


def delivery_event(
    recipients: list[str],
    *,
    form: str = "notificationType",
    source: str = "community-bounces@lists.example.org",
) -> dict[str, Any]:
    return {
        form: "Delivery",
        "delivery": {
            "timestamp": iso(datetime.now(UTC)),
            "processingTimeMillis": 546,
            "recipients": recipients,
            "smtpResponse": "250 2.6.0 Message received",
            "remoteMtaIp": "192.0.2.25",
            "reportingMTA": "a4-21.smtp-out.eu-west-2.amazonses.com",
        },
        "mail": ses_mail(recipients, source),
    }


def send_event(
    recipients: list[str], *, source: str = "community-bounces@lists.example.org"
) -> dict[str, Any]:
    return {"eventType": "Send", "send": {}, "mail": ses_mail(recipients, source)}
