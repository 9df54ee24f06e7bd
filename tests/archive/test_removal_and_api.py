from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client

from listkeeper.archive import store
from listkeeper.archive.models import ArchivedMessage
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility, AuditEntry, Member, Role
from tests.api.conftest import client_for, make_user
from tests.archive.conftest import make_message

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
BASE = "/archive/community.lists.example.org/"


def put(ml, n: int, sender: str = "Alice <alice@example.com>", **kw) -> ArchivedMessage:
    raw = make_message(
        f"Subject {n}",
        f"Body {n}\n",
        message_id=f"<d{n}@x>",
        date=T0 + timedelta(hours=n),
        sender=sender,
        **kw,
    )
    message = store.archive_raw(ml, raw)
    assert message is not None
    return message


def owner_client(ml) -> Client:
    user = make_user("boss@example.org")
    services.subscribe(ml, user.email, actor="test", role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


def test_an_owner_removes_a_message_with_a_reason_and_it_never_comes_back(ml) -> None:
    first = put(ml, 1)
    put(ml, 2, in_reply_to="<d1@x>")
    client = owner_client(ml)

    assert client.post(f"{BASE}m/{first.slug}/delete/", {"reason": ""}).status_code == 400
    response = client.post(f"{BASE}m/{first.slug}/delete/", {"reason": "asked by the author"})

    assert response.status_code == 302
    assert client.get(f"{BASE}m/{first.slug}/").status_code == 404
    [entry] = AuditEntry.objects.filter(action="archive.delete")
    assert entry.actor == "boss@example.org"
    assert entry.details == {"message": first.slug, "reason": "asked by the author"}
    assert "alice" not in str(entry.details)
    # The same message sent or imported again stays out.
    assert store.archive_raw(ml, make_message(message_id="<d1@x>")) is None
    assert ArchivedMessage.objects.count() == 1


def test_members_and_moderators_cannot_remove_messages(ml) -> None:
    message = put(ml, 1)
    moderator = make_user("mod@example.org")
    services.subscribe(ml, moderator.email, actor="test", role=Role.MODERATOR)
    client = Client()
    client.force_login(moderator)

    assert client.post(f"{BASE}m/{message.slug}/delete/", {"reason": "x"}).status_code == 404
    assert ArchivedMessage.objects.count() == 1


def test_erasing_a_person_offers_to_remove_what_they_wrote(ml) -> None:
    put(ml, 1, sender="Bob <bob@example.org>")
    put(ml, 2, sender="Bob <bob@example.org>")
    put(ml, 3)
    admin = make_user("root@example.org", superuser=True)
    client = Client()
    client.force_login(admin)
    bob = Member.objects.get(key="bob@example.org")

    page = client.get(f"/members/{bob.id}/erase/").content.decode()
    assert "Also remove the 2 messages they wrote" in page
    client.post(f"/members/{bob.id}/erase/", {"archive": "remove"})

    assert list(ArchivedMessage.objects.values_list("author_email", flat=True)) == [
        "alice@example.com"
    ]
    assert AuditEntry.objects.get(action="archive.erase_author").details == {"messages": 2}


def test_the_api_reads_threads_and_messages_with_the_same_visibility(ml) -> None:
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PRIVATE)
    first = put(ml, 1)
    reply = put(ml, 2, in_reply_to="<d1@x>")
    stranger = client_for(make_user("stranger@example.org"))
    owner = make_user("boss@example.org")
    services.subscribe(ml, owner.email, actor="test", role=Role.OWNER)
    api = client_for(owner)

    assert stranger.get(f"/lists/{ml.id}/archive/threads").status_code == 404
    threads = api.get(f"/lists/{ml.id}/archive/threads").json()
    assert [(t["slug"], t["count"]) for t in threads] == [(first.slug, 2)]
    detail = api.get(f"/lists/{ml.id}/archive/threads/{first.slug}").json()
    assert [(m["slug"], m["parent"], m["depth"]) for m in detail["messages"]] == [
        (first.slug, None, 0),
        (reply.slug, first.slug, 1),
    ]
    one = api.get(f"/lists/{ml.id}/archive/messages/{reply.slug}").json()
    assert one["url"] == f"http://127.0.0.1:8000{BASE}m/{reply.slug}/"
    assert one["body_text"] == "Body 2\n"
    assert api.get(f"/lists/{ml.id}/archive/messages/nosuch").status_code == 404

    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PUBLIC)
    assert stranger.get(f"/lists/{ml.id}/archive/messages/{reply.slug}").status_code == 200
    schema = Client().get("/api/openapi.json").json()
    assert "/api/lists/{list_id}/archive/messages/{slug}" in schema["paths"]
