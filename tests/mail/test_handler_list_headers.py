from __future__ import annotations

from listkeeper.lists import services
from listkeeper.lists.models import PostingPolicy
from listkeeper.mail.handlers import list_headers
from tests.support.mail import make_ctx, parse_out

PAGE = "http://127.0.0.1:8000/l/community@lists.example.org/"


def handled(ml, name="plain.eml"):
    ctx = make_ctx(ml, name)
    list_headers.handle(ctx)
    return parse_out(ctx.as_bytes())


def test_it_adds_the_rfc2919_and_rfc2369_fields(ml, settings) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    msg = handled(ml)

    assert msg["List-Id"] == "Community <community.lists.example.org>"
    assert msg["List-Post"] == "<mailto:community@lists.example.org>"
    assert msg["List-Help"] == "<mailto:community-request@lists.example.org?subject=help>"
    assert msg["List-Owner"] == "<mailto:community-owner@lists.example.org>"
    assert msg["List-Subscribe"] == (
        f"<{PAGE}>, <mailto:community-request@lists.example.org?subject=subscribe>"
    )
    assert msg["X-Loop"] == "community@lists.example.org"
    assert msg["Precedence"] == "list"


def test_it_leaves_list_unsubscribe_to_delivery_on_a_personalised_list(ml) -> None:
    msg = handled(ml)

    assert msg["List-Unsubscribe"] is None
    assert msg["List-Unsubscribe-Post"] is None


def test_it_writes_list_unsubscribe_itself_on_a_non_personalised_list(ml, settings) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    services.update_list(ml, actor="test", personalised=False)

    msg = handled(ml)

    assert msg["List-Unsubscribe"] == (
        f"<{PAGE}>, <mailto:community-request@lists.example.org?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] is None


def test_it_replaces_another_lists_fields_and_keeps_their_x_loop(ml) -> None:
    ctx = make_ctx(
        ml, b"X-Loop: other@elsewhere.example\n" + open("tests/data/dkim-gmail.eml", "rb").read()
    )
    list_headers.handle(ctx)
    msg = parse_out(ctx.as_bytes())

    assert msg.get_all("List-Id") == ["Community <community.lists.example.org>"]
    assert msg.get_all("List-Unsubscribe") is None
    assert msg.get_all("X-Loop") == ["other@elsewhere.example", "community@lists.example.org"]


def test_it_encodes_a_non_ascii_list_name_in_list_id(ml) -> None:
    services.update_list(ml, actor="test", display_name="Gemeinschaft Köln, e.V.")
    ctx = make_ctx(ml, "plain.eml")
    list_headers.handle(ctx)

    assert ctx.headers.raw("List-Id").isascii()
    assert (
        parse_out(ctx.as_bytes())["List-Id"]
        == "Gemeinschaft Köln, e.V. <community.lists.example.org>"
    )


def test_it_says_no_posting_on_an_announce_list(ml) -> None:
    services.update_list(ml, actor="test", posting_policy=PostingPolicy.ANNOUNCE)

    assert handled(ml)["List-Post"] == "NO"
