"""RFC 8058 one-click unsubscribe from a copy that went through the real mail path."""

from __future__ import annotations

import pytest
from django.test import Client

from listkeeper.lists.models import Status, Subscription
from tests.support.mailpath import parsed

pytestmark = pytest.mark.e2e


def _unsubscribe_path(copy_data: bytes) -> str:
    header = parsed(copy_data)["List-Unsubscribe"]
    url = header.split("<", 1)[1].split(">", 1)[0]
    return "/" + url.split("/", 3)[3]


def test_it_stops_sending_to_a_member_who_used_the_one_click_link(mailpath) -> None:
    ml = mailpath.make_list(members=3, posting_policy="open")
    mailpath.start_worker()
    mailpath.post(ml.address, subject="First")
    first = mailpath.ses.wait_for(3)
    leaver = "community.m1@example.net"
    (copy,) = [m for m in first if m.rcpt_tos == [leaver]]

    # What Gmail does: POST the URL with the RFC 8058 body, no cookies, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        _unsubscribe_path(copy.data), {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 200
    assert (
        Subscription.objects.get(mailing_list=ml, member__email=leaver).status
        == Status.UNSUBSCRIBED
    )
    mailpath.ses.clear()
    mailpath.post(ml.address, subject="Second")
    mailpath.wait_delivered(ml, count=2)
    second = mailpath.ses.wait_for(2)
    assert sorted(r for m in second for r in m.rcpt_tos) == [
        "community.m0@example.net",
        "community.m2@example.net",
    ]


def test_it_refuses_a_tampered_unsubscribe_link(mailpath) -> None:
    ml = mailpath.make_list(members=2, posting_policy="open")
    mailpath.start_worker()
    mailpath.post(ml.address, subject="First")
    (copy,) = [m for m in mailpath.ses.wait_for(2) if m.rcpt_tos == ["community.m0@example.net"]]
    path = _unsubscribe_path(copy.data)
    # Change the last characters of the signature, as a forger or a mangling client would.
    token = path.split("/")[2]
    tampered = path.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))

    response = Client().post(tampered, {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 400
    assert not Subscription.objects.filter(mailing_list=ml).exclude(status=Status.ACTIVE).exists()
