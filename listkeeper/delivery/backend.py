"""Django email backend that queues mail in the delivery ledger.

Every message Listkeeper sends itself (password reset, confirmations, notices)
goes through Django's mail API, lands in the ledger, and the worker hands it to
our own Postfix, paced like list mail.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from listkeeper.delivery.ledger import enqueue_message


class LedgerEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            # Django's SafeMIME message takes linesep; the stubs type it as a plain Message.
            raw = message.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]
            enqueue_message(raw, recipients, message.from_email)
            sent += 1
        return sent
