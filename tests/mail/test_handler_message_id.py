from __future__ import annotations

from email.utils import parsedate_to_datetime

from listkeeper.mail import pipeline
from tests.support.mail import load, make_ctx, parse_out, run_pipeline


def test_it_keeps_the_threading_fields_of_a_reply_byte_for_byte(ml) -> None:
    raw = load("reply-references.eml").replace(b"\n", b"\r\n")
    out = run_pipeline(ml, raw)

    for field in (
        b"Message-ID: <7c1e9a2b-3d4f-4a5b-9c6d-7e8f9a0b1c2d@example.com>\r\n",
        b"In-Reply-To: <CAB1x2y3z4W5v6U7t8S9r0Q1p2O3n4M5l6K7j8I9h0G@mail.gmail.com>\r\n",
        b"References: <20240514091230.GA1234@mail.example.com>\r\n <CAB1x2y3z4W5v6U7t8S9r0Q1p2O3n4M5l6K7j8I9h0G@mail.gmail.com>\r\n",
        b"Date: Fri, 17 May 2024 11:59:58 +0200\r\n",
    ):
        assert field in raw
        assert field in out


def test_it_adds_a_message_id_and_date_when_missing(ml) -> None:
    ctx = make_ctx(ml, "no-message-id.eml")
    out = parse_out(pipeline.run(ctx))

    assert out["Message-ID"].endswith("@lists.example.org>")
    assert parsedate_to_datetime(out["Date"]).tzinfo is not None
    assert len(out.get_all("Message-ID")) == 1
