from __future__ import annotations

from datetime import UTC, datetime, timedelta

from listkeeper.archive import ids, store
from listkeeper.archive.models import ArchivedMessage, Month, Thread
from tests.support.archive import make_message

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


def test_a_reply_joined_by_subject_moves_under_its_parent_when_that_arrives(ml) -> None:
    put(ml, "a")
    put(ml, "b", "Re: Plans", 1, in_reply_to="<a@x>", references="<a@x>")
    # c replies to x, which has not arrived: the subject puts it under a for now.
    put(ml, "c", "Re: Plans", 3, in_reply_to="<x@x>", references="<a@x> <x@x>")
    put(ml, "d", "Re: Plans", 4, in_reply_to="<c@x>", references="<a@x> <x@x> <c@x>")
    put(ml, "x", "Re: Plans", 2, in_reply_to="<b@x>", references="<a@x> <b@x>")

    [thread] = Thread.objects.all()
    assert order(thread) == [("a", 0), ("b", 1), ("x", 2), ("c", 3), ("d", 4)]
    assert thread.count == 5
    c = ArchivedMessage.objects.get(message_id="<c@x>")
    assert c.reply_to == ids.slug("<x@x>")


def test_a_subject_threaded_reply_and_its_replies_move_to_their_real_parents_thread(ml) -> None:
    # Two threads with the same subject; the reply names a message of the older one.
    put(ml, "old", "Rota", 0)
    put(ml, "new", "Rota", 60)
    put(ml, "r", "Re: Rota", 90, in_reply_to="<late@x>", references="<late@x>")
    put(ml, "rr", "Re: Rota", 95, in_reply_to="<r@x>", references="<late@x> <r@x>")
    # Nothing named "new", so the subject fallback took the latest thread, "new".
    newer = Thread.objects.get(slug=ids.slug("<new@x>"))
    assert order(newer) == [("new", 0), ("r", 1), ("rr", 2)]

    put(ml, "late", "Re: Rota", 30, in_reply_to="<old@x>", references="<old@x>")

    older = Thread.objects.get(slug=ids.slug("<old@x>"))
    newer.refresh_from_db()
    assert order(older) == [("old", 0), ("late", 1), ("r", 2), ("rr", 3)]
    assert order(newer) == [("new", 0)]
    assert (older.count, newer.count) == (4, 1)
    assert older.last_date == T0 + timedelta(minutes=95)
    assert newer.last_date == newer.started == T0 + timedelta(minutes=60)


def test_a_late_parent_in_an_import_batch_adopts_replies_placed_before_it(ml) -> None:
    raws = [
        make_message("Re: Plans", message_id="<c@x>", in_reply_to="<b@x>", date=T0),
        make_message("Plans", message_id="<a@x>", date=T0),
        make_message("Re: Plans", message_id="<b@x>", in_reply_to="<a@x>", date=T0),
    ]
    store.store_many(ml, [store.item_from(ml, raw) for raw in raws])

    [thread] = Thread.objects.all()
    assert order(thread) == [("a", 0), ("b", 1), ("c", 2)]
    assert thread.count == 3
