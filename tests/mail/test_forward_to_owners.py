from __future__ import annotations

from django.contrib.auth import get_user_model

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail import headers as h
from listkeeper.mail import process
from listkeeper.mail.models import InboundMessage
from tests.support.mail import load, outbox


def test_it_forwards_to_the_owners_from_the_owner_address(ml) -> None:
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    services.subscribe(ml, "mod@example.org", actor="test", role=Role.MODERATOR)
    raw = load("dkim-gmail.eml")

    result = process.forward_to_owners(ml, raw, "bob.sender@gmail.com")

    assert result == "forwarded to 1 owner(s)"
    [mail] = outbox()
    assert mail.to == ["owner@example.org"]
    assert mail.envelope_from == "community-bounces@lists.example.org"
    assert (
        str(mail.message["From"])
        == "Bob Sender via community-owner <community-owner@lists.example.org>"
    )
    assert str(mail.message["Reply-To"]) == "Bob Sender <bob.sender@gmail.com>"
    assert mail.message["DKIM-Signature"] is None and mail.message["Sender"] is None
    assert mail.message["X-Loop"] == "community-owner@lists.example.org"
    assert h.split(h.canonical(raw))[1] in mail_bytes()


def mail_bytes() -> bytes:
    return bytes(Delivery.objects.get().message)


def test_it_keeps_the_senders_own_reply_to(ml) -> None:
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)

    process.forward_to_owners(ml, load("reply-references.eml"), "dave@example.com")

    assert str(outbox()[0].message["Reply-To"]) == "Dave at home <dave.home@example.net>"


def test_it_falls_back_to_moderators_then_site_admins(ml) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.org", "x")
    process.forward_to_owners(ml, load("plain.eml"), "alice@example.com")
    services.subscribe(ml, "mod@example.org", actor="test", role=Role.MODERATOR)
    process.forward_to_owners(ml, load("plain.eml"), "alice@example.com")

    assert [m.to for m in outbox()] == [["admin@example.org"], ["mod@example.org"]]


def test_it_does_not_forward_its_own_forwards_again(ml) -> None:
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    process.forward_to_owners(ml, load("plain.eml"), "alice@example.com")

    result = process.forward_to_owners(ml, mail_bytes(), "community-bounces@lists.example.org")

    assert result.startswith("dropped")
    assert len(outbox()) == 1


def test_it_keeps_the_owner_mail_and_what_came_of_it(ml) -> None:
    process.forward_to_owners(ml, load("plain.eml"), "alice@example.com")

    kept = InboundMessage.objects.get()
    assert (kept.kind, kept.recipient) == ("owner", "community-owner@lists.example.org")
    assert kept.result == "dropped: the list has no owners, moderators or site admins"


def test_it_drops_a_robots_answer_to_one_of_our_notices_and_keeps_it_once(ml) -> None:
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    raw = (
        b"Auto-Submitted: auto-replied\n"
        b"In-Reply-To: <1.2.3.listkeeper-notice@lists.example.org>\n" + load("dkim-gmail.eml")
    )

    result = process.forward_to_owners(ml, raw, "bob.sender@gmail.com")

    assert result.startswith("dropped: the message is automatic")
    assert outbox() == []
    assert [m.result for m in InboundMessage.objects.all()] == [result]


def test_it_skips_a_site_admin_whose_address_nobody_can_read(ml, caplog) -> None:
    User = get_user_model()
    User.objects.create_superuser("old", "admin@lists.example.org", "pw")
    User.objects.create_superuser("chair", "chair@example.net", "pw")

    result = process.forward_to_owners(ml, load("dkim-gmail.eml"), "bob.sender@gmail.com")

    assert result == "forwarded to 1 owner(s)"
    assert [m.to for m in outbox()] == [["chair@example.net"]]
    assert "admin@lists.example.org cannot receive notices" in caplog.text
