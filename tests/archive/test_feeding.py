from __future__ import annotations

import email
from email import policy

from listkeeper.archive import ids
from listkeeper.archive.models import ArchivedMessage, Month, Thread
from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility
from listkeeper.mail import process
from listkeeper.mail.models import PostStatus
from tests.support.archive import make_message


def _copy_headers(post) -> email.message.EmailMessage:
    delivery = Delivery.objects.get(post=post)
    return email.message_from_bytes(bytes(delivery.message), policy=policy.default)


def test_it_archives_an_accepted_post_with_its_permalink_in_every_copy(ml) -> None:
    post = process.handle_post(ml, make_message(), "alice@example.com")

    assert post.status == PostStatus.ACCEPTED
    [archived] = ArchivedMessage.objects.all()
    assert archived.post_id == post.id
    assert archived.message_id == "<m1@example.com>"
    assert archived.slug == ids.slug("<m1@example.com>")
    assert (archived.author_name, archived.author_email) == ("Alice", "alice@example.com")
    assert archived.subject == "Hello"
    assert archived.body_text == "Hello there.\n"
    sent = _copy_headers(post)
    assert sent["Archived-At"] == (
        f"<http://127.0.0.1:8000/archive/community.lists.example.org/m/{archived.slug}/>"
    )
    assert sent["List-Archive"] == "<http://127.0.0.1:8000/archive/community.lists.example.org/>"
    assert "@" not in sent["Archived-At"]
    assert Month.objects.get().count == 1


def test_it_archives_nothing_that_is_not_sent(ml) -> None:
    post = process.handle_post(
        ml, make_message(sender="stranger@example.net"), "stranger@example.net"
    )

    assert post.status == PostStatus.HELD
    assert ArchivedMessage.objects.count() == 0
    process.reject(post, actor="owner@example.org")
    assert ArchivedMessage.objects.count() == 0


def test_it_archives_a_held_post_when_it_is_approved(ml) -> None:
    post = process.handle_post(
        ml, make_message(sender="stranger@example.net"), "stranger@example.net"
    )
    process.approve(post, actor="owner@example.org")

    [archived] = ArchivedMessage.objects.all()
    assert archived.post_id == post.id
    assert _copy_headers(post)["Archived-At"].endswith(f"/m/{archived.slug}/>")


def test_a_list_with_the_archive_off_archives_nothing_and_adds_no_headers(ml) -> None:
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.OFF)
    post = process.handle_post(ml, make_message(), "alice@example.com")

    assert post.status == PostStatus.ACCEPTED
    assert ArchivedMessage.objects.count() == 0
    sent = _copy_headers(post)
    assert sent["Archived-At"] is None
    assert sent["List-Archive"] is None


def test_a_post_without_message_id_is_archived_under_the_one_the_copies_carry(ml) -> None:
    post = process.handle_post(ml, make_message(message_id=None), "alice@example.com")

    [archived] = ArchivedMessage.objects.all()
    sent = _copy_headers(post)
    assert archived.message_id == sent["Message-ID"]
    assert sent["Archived-At"].endswith(f"/m/{ids.slug(sent['Message-ID'])}/>")
    assert bytes(archived.raw).startswith(b"Message-ID: ")


def test_a_foreign_archived_at_is_replaced(ml) -> None:
    raw = make_message().replace(
        b"Subject:", b"Archived-At: <https://elsewhere.example/x>\nSubject:", 1
    )
    post = process.handle_post(ml, raw, "alice@example.com")

    assert _copy_headers(post).get_all("Archived-At") == [
        f"<http://127.0.0.1:8000/archive/community.lists.example.org/m/{ids.slug('<m1@example.com>')}/>"
    ]


def test_a_repeated_message_id_is_delivered_but_archived_once(ml) -> None:
    process.handle_post(ml, make_message(), "alice@example.com")
    process.handle_post(ml, make_message(body="again"), "alice@example.com")

    assert ArchivedMessage.objects.count() == 1
    assert Thread.objects.get().count == 1
