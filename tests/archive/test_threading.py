from __future__ import annotations

from datetime import UTC, datetime, timedelta

from listkeeper.archive import ids, store
from listkeeper.archive.models import ArchivedMessage, Month, Thread
from tests.archive.conftest import make_message

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def put(ml, mid: str, subject: str = "Plans", minutes: int = 0, **kw) -> ArchivedMessage:
    raw = make_message(subject, message_id=f"<{mid}@x>", date=T0 + timedelta(minutes=minutes), **kw)
    message = store.archive_raw(ml, raw)
    assert message is not None
    return message


def order(thread: Thread) -> list[tuple[str, int]]:
    return [
        (m.message_id.strip("<>").split("@")[0], m.depth)
        for m in ArchivedMessage.objects.filter(thread=thread).order_by("path")
    ]


def test_replies_thread_in_reply_order_with_depth(ml) -> None:
    root = put(ml, "a")
    put(ml, "b", "Re: Plans", 1, in_reply_to="<a@x>", references="<a@x>")
    put(ml, "c", "Re: Plans", 2, in_reply_to="<a@x>", references="<a@x>")
    put(ml, "d", "Re: Plans", 3, in_reply_to="<b@x>", references="<a@x> <b@x>")

    assert Thread.objects.count() == 1
    thread = Thread.objects.get()
    assert (thread.slug, thread.count) == (root.slug, 4)
    assert order(thread) == [("a", 0), ("b", 1), ("d", 2), ("c", 1)]


def test_a_missing_parent_falls_back_to_the_nearest_reference(ml) -> None:
    put(ml, "a")
    put(ml, "d", "Re: Plans", 3, in_reply_to="<gone@x>", references="<a@x> <gone@x>")

    assert order(Thread.objects.get()) == [("a", 0), ("d", 1)]


def test_a_reply_without_references_joins_by_subject(ml) -> None:
    put(ml, "a", "Budget for 2027")
    put(ml, "b", "RE: [Community] Re: budget for  2027", 5)
    put(ml, "c", "Budget for 2027", 9)  # not a reply: a new thread of its own

    assert Thread.objects.count() == 2
    first = Thread.objects.order_by("started").first()
    assert order(first) == [("a", 0), ("b", 1)]


def test_a_reply_that_arrives_before_its_parent_is_adopted(ml) -> None:
    put(ml, "c", "Re: Plans", 2, in_reply_to="<b@x>", references="<a@x> <b@x>")
    put(ml, "b", "Re: Plans", 1, in_reply_to="<a@x>", references="<a@x>")
    assert Thread.objects.count() == 1  # b adopted c, which named it
    put(ml, "a", "Plans", 0)

    [thread] = Thread.objects.all()
    assert order(thread) == [("a", 0), ("b", 1), ("c", 2)]
    assert thread.count == 3


def test_removing_a_message_keeps_its_replies_in_the_thread(ml) -> None:
    put(ml, "a")
    b = put(ml, "b", "Re: Plans", 1, in_reply_to="<a@x>")
    put(ml, "c", "Re: Plans", 2, in_reply_to="<b@x>")

    store.remove(b)

    thread = Thread.objects.get()
    assert thread.count == 2
    assert [m.reply_to for m in ArchivedMessage.objects.exclude(reply_to="")] == [ids.slug("<a@x>")]
    assert Month.objects.get().count == 2


def test_an_import_of_the_same_message_twice_archives_it_once(ml) -> None:
    raw = make_message(message_id="<same@x>", date=T0)
    assert store.archive_raw(ml, raw) is not None
    assert store.archive_raw(ml, raw) is None
    assert ArchivedMessage.objects.count() == 1
