"""The public forms answer the same whoever the address belongs to."""

from __future__ import annotations

from django.test import Client

from listkeeper.lists import services
from tests.support.notices import text_of

PAGE = "/l/community@lists.example.org/"


def _answer(client: Client, url: str, address: str) -> tuple[int, bytes]:
    response = client.post(url, {"address": address})
    return response.status_code, response.content


def test_it_answers_the_subscribe_form_identically_for_every_kind_of_address(
    community, outbox
) -> None:
    services.subscribe(community, "active@example.org", actor="test")
    gone = services.subscribe(community, "gone@example.org", actor="test").subscription
    services.unsubscribe(gone, actor="test")
    services.subscribe(community, "pending@example.org", actor="test", status="pending")
    services.add_ban(community, "banned@example.org", actor="test")

    answers = {
        address: _answer(Client(), PAGE, address)
        for address in [
            "new@example.org",
            "active@example.org",
            "gone@example.org",
            "pending@example.org",
            "banned@example.org",
        ]
    }
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values()))[0] == 200


def test_it_tells_an_active_member_by_mail_only(client, community, outbox) -> None:
    services.subscribe(community, "active@example.org", actor="test")
    client.post(PAGE, {"address": "active@example.org"})
    mail = outbox.last()
    assert mail["Subject"] == "You are already subscribed to Community"
    assert "/confirm/" not in text_of(mail)
    assert "/manage/" in text_of(mail)


def test_it_sends_a_banned_address_nothing(client, community, outbox) -> None:
    services.add_ban(None, "*@spam.example", actor="test")
    client.post(PAGE, {"address": "Promo@SPAM.example"})
    assert len(outbox) == 0


def test_it_answers_the_manage_form_identically_for_known_and_unknown_addresses(
    community, outbox
) -> None:
    services.subscribe(community, "known@example.org", actor="test")
    known = _answer(Client(), "/manage/", "known@example.org")
    unknown = _answer(Client(), "/manage/", "unknown@example.org")
    assert known == unknown
    assert known[0] == 200
    assert [m["To"] for m in outbox.all()] == ["known@example.org"]
