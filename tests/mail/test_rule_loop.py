from __future__ import annotations

import pytest

from listkeeper.mail import rules
from listkeeper.mail.errors import Hold
from tests.mail.conftest import load, make_ctx, run_pipeline


def test_it_holds_a_post_that_carries_our_own_list_id(ml) -> None:
    ctx = make_ctx(ml, run_pipeline(ml, "plain.eml"))

    with pytest.raises(Hold) as stop:
        rules.loop(ctx)

    assert "List-Id <community.lists.example.org>" in stop.value.reason


def test_it_holds_a_post_with_our_x_loop(ml) -> None:
    raw = b"X-Loop: Community@Lists.Example.org\n" + load("plain.eml")

    with pytest.raises(Hold, match="X-Loop"):
        rules.loop(make_ctx(ml, raw))


def test_it_lets_through_another_lists_list_id_and_x_loop(ml) -> None:
    raw = (
        b"X-Loop: mycommunity@lists.example.org\nList-Id: <community.lists.example.org.evil>\n"
        + load("plain.eml")
    )

    rules.loop(make_ctx(ml, raw))
    assert rules.loop(make_ctx(ml, "dkim-gmail.eml")) is None


def test_it_ignores_a_list_id_inside_a_forwarded_message(ml) -> None:
    raw = load("forwarded-rfc822.eml").replace(
        b"<something.else.example>", b"<community.lists.example.org>"
    )

    assert rules.loop(make_ctx(ml, raw)) is None
