"""Notices read right: list names with quotes, `&`, `<>`, commas and non-ASCII.

Each notice is parsed back from the bytes we queued and its Subject and From
compared with the list's name exactly (no HTML escaping, no broken quoting).
"""

from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail import process
from tests.support.mail import load, outbox


def text_of(notice) -> str:
    return notice.text.replace("\r\n", "\n")


NAMES = [
    "St John's Friends & Family",
    'Parents "Friday" Club',
    "Chess <Club>, Room 4",
    "Grüße aus Köln, naïve café",
    'Tricky "<x@evil.example>", & co',
]

SUBSCRIBE = (
    b"From: New Person <new@example.net>\r\nTo: community-request@lists.example.org\r\n"
    b"Subject: subscribe\r\nMessage-ID: <sub@example.net>\r\n\r\nsubscribe\r\n"
)


@pytest.mark.parametrize("name", NAMES)
def test_a_confirmation_names_the_list_exactly(ml, name) -> None:
    services.update_list(ml, actor="test", display_name=name)

    process.handle_request(ml, SUBSCRIBE, "new@example.net")

    [notice] = outbox()
    assert str(notice.message["Subject"]) == f"Confirm your subscription to {name}"
    [sender] = notice.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name, "community-owner@lists.example.org")
    # Paragraphs are one line each (they are translated whole); mail clients wrap them.
    assert f"the mailing list {name} (community@lists.example.org)" in text_of(notice)


@pytest.mark.parametrize("name", NAMES)
def test_a_held_notice_and_a_rejection_name_the_list_exactly(ml, name) -> None:
    services.update_list(ml, actor="test", display_name=name, nonmember_action="reject")
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    subject = 'Q&A <today>, "quoted" & Grüße'
    raw = load("plain.eml").replace(b"Subject: Meeting on Thursday", f"Subject: {subject}".encode())

    process.handle_post(ml, raw, "alice@example.com")

    [rejection] = outbox()
    assert str(rejection.message["Subject"]) == f"Your message to {name} was not delivered"
    assert rejection.message["From"].addresses[0].display_name == name
    assert f"Subject: {subject}\n" in text_of(rejection)
