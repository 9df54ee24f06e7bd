from __future__ import annotations

import email
from email import policy
from types import SimpleNamespace

from listkeeper.delivery import personalise
from listkeeper.lib import links, tokens

MESSAGE = (
    b'From: "Alice via Community" <community@lists.example.org>\n'
    b"To: community@lists.example.org\n"
    b"Subject: Hello\n"
    b"List-Unsubscribe: <https://stray.example/>\n"
    b" , <mailto:stray@example.org>\n"
    b"List-Id: <community.lists.example.org>\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"Caf\xc3\xa9 tonight.\n"
    b".a line starting with a dot\n"
    b"-- \n"
    b"Unsubscribe: @@UNSUBSCRIBE_URL@@\n"
    b"Or here: @@UNSUBSCRIBE_URL@@\n"
)


def _unstuff(data: bytes) -> email.message.EmailMessage:
    lines = [line[1:] if line.startswith(b".") else line for line in data.split(b"\r\n")]
    return email.message_from_bytes(b"\r\n".join(lines), policy=policy.SMTP)


def test_it_gives_each_member_their_own_one_click_unsubscribe(community, monkeypatch) -> None:
    # The token carries the second it was made: one clock for the copy and the expectation.
    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: 1_790_000_000.0))
    prepared = personalise.prepare(MESSAGE, community, personalised=True)

    copy = _unstuff(personalise.copy_for(prepared, 42, stuffed=True))

    url = links.unsubscribe_url(community.id, 42)
    assert tokens.read_unsubscribe_token(url.rstrip("/").rsplit("/", 1)[1]) == (community.id, 42)
    assert copy.get_all("List-Unsubscribe") == [
        f"<{url}>, <mailto:community-request@lists.example.org?subject=unsubscribe>"
    ]
    assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = copy.get_content()
    assert body.count(url) == 2 and "@@UNSUBSCRIBE_URL@@" not in body
    assert "Café tonight." in body
    assert copy["List-Id"] == "<community.lists.example.org>"


def test_it_keeps_lines_that_start_with_a_dot_intact_on_the_wire(community) -> None:
    prepared = personalise.prepare(MESSAGE, community, personalised=True)

    for_data = personalise.copy_for(prepared, 1, stuffed=True)
    for_bdat = personalise.copy_for(prepared, 1)

    assert b"\r\n..a line starting with a dot\r\n" in for_data
    assert b"\r\n.a line starting with a dot\r\n" in for_bdat
    assert b"\n" not in for_data.replace(b"\r\n", b"")
    assert ".a line starting with a dot" in _unstuff(for_data).get_content()
    assert (
        _unstuff(for_data).as_bytes()
        == email.message_from_bytes(for_bdat, policy=policy.SMTP).as_bytes()
    )


def test_it_does_not_stuff_a_dot_that_follows_the_link_mid_line(community) -> None:
    message = b"Subject: x\r\n\r\nLeave: @@UNSUBSCRIBE_URL@@.\r\n.dot\r\n"
    prepared = personalise.prepare(message, community, personalised=True)

    data = personalise.copy_for(prepared, 1, stuffed=True)

    assert b"/.\r\n..dot\r\n" in data


def test_it_gives_two_members_different_links(community) -> None:
    prepared = personalise.prepare(MESSAGE, community, personalised=True)

    assert personalise.copy_for(prepared, 1) != personalise.copy_for(prepared, 2)


def test_it_points_a_shared_copy_at_the_list_page(community) -> None:
    prepared = personalise.prepare(MESSAGE, community, personalised=False)

    copy = _unstuff(personalise.shared_copy(prepared, stuffed=True))

    page = links.list_page_url("community", "lists.example.org")
    assert copy.get_content().count(page) == 2
    # The pipeline's own List-Unsubscribe stays on a shared copy; no one-click.
    assert copy["List-Unsubscribe-Post"] is None
    assert "stray.example" in copy["List-Unsubscribe"]


def test_it_leaves_our_own_notices_as_they_are() -> None:
    notice = b"From: x@lists.example.org\r\nSubject: Confirm\r\n\r\nClick @@UNSUBSCRIBE_URL@@\r\n"

    prepared = personalise.prepare(notice, None, personalised=False)

    assert personalise.shared_copy(prepared) == notice


def test_it_names_the_ledger_row_in_the_verp_sender(community) -> None:
    sender = personalise.verp_sender(community, 1234)

    local, domain = sender.split("@")
    assert domain == "lists.example.org"
    assert local.startswith("community-bounces+")
    assert tokens.read_verp_token(local.split("+", 1)[1]) == 1234
