"""The mail path logs one line per event, each with the post's Message-ID and list."""

from __future__ import annotations

import json
import logging

import pytest

from listkeeper.lib.log import JsonFormatter
from listkeeper.lists import services
from listkeeper.mail import moderation, process
from tests.support.mail import load


@pytest.fixture
def json_lines(caplog):
    caplog.set_level(logging.INFO, logger="listkeeper.mail")

    def lines() -> list[dict]:
        formatter = JsonFormatter()
        return [
            json.loads(formatter.format(r)) for r in caplog.records if r.name == "listkeeper.mail"
        ]

    return lines


def test_it_logs_an_accepted_post_with_its_message_id_list_and_recipients(ml, json_lines) -> None:
    services.subscribe(ml, "alice@example.com", actor="test")
    services.subscribe(ml, "bob@example.org", actor="test")

    process.handle_post(ml, load("plain.eml"), "alice@example.com")

    [line] = [x for x in json_lines() if x.get("event") == "post_accepted"]
    assert line["message_id"] == "<20240514091230.GA1234@mail.example.com>"
    assert line["list"] == "community@lists.example.org"
    assert line["recipients"] == 2
    assert "Thursday" not in json.dumps(json_lines())  # no subject or body text


def test_it_logs_a_held_post_and_its_approval_with_the_same_message_id(ml, json_lines) -> None:
    services.subscribe(ml, "alice@example.com", actor="test")
    post = process.handle_post(ml, load("dkim-gmail.eml"), "bob.sender@gmail.com")

    moderation.approve(post, actor="mod@example.org")

    events = {x["event"]: x for x in json_lines() if "event" in x}
    assert events["post_held"]["reason"].startswith("bob.sender@gmail.com is not a member")
    assert events["post_approved"]["actor"] == "mod@example.org"
    for name in ("post_held", "post_approved"):
        assert (
            events[name]["message_id"]
            == "<CAB1x2y3z4W5v6U7t8S9r0Q1p2O3n4M5l6K7j8I9h0G@mail.gmail.com>"
        )
        assert events[name]["list"] == "community@lists.example.org"
