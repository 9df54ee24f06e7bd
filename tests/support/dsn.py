"""Delivery reports made up in the tests, as an attacker or a real MTA would send them."""

from __future__ import annotations


def delivery_report(
    reported: str,
    *,
    to: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 User unknown",
    sender: str = "MAILER-DAEMON@mx.example.net",
) -> bytes:
    """An RFC 3464 report saying the copy for `reported` failed, mailed to `to`."""
    return (
        f"From: Mail Delivery System <{sender}>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <report.1@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"Your message could not be delivered to {reported}.\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {reported}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        "--B--\r\n"
    ).encode()
