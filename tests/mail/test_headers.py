from __future__ import annotations

import pytest

from listkeeper.mail import headers as h
from tests.support.mail import EML_FILES, load


@pytest.mark.parametrize("name", EML_FILES)
def test_it_splits_and_joins_every_sample_without_changing_a_byte(name) -> None:
    raw = h.canonical(load(name))

    block, body = h.split(raw)

    assert block.as_bytes() + h.CRLF + body == raw
    assert block.get("Message-ID") or name == "no-message-id.eml"


def test_it_turns_lf_and_bare_cr_into_crlf_as_smtp_does() -> None:
    assert h.canonical(b"A: 1\nB: 2\r\n\rbody\r\n") == b"A: 1\r\nB: 2\r\n\r\nbody\r\n"


def test_it_keeps_folded_fields_whole_and_reads_them_unfolded() -> None:
    block, body = h.split(b"Subject: one\r\n two\r\nX: y\r\n\r\nbody")

    assert block.fields == [b"Subject: one\r\n two\r\n", b"X: y\r\n"]
    assert block.get("subject") == "one two"
    assert body == b"body"


def test_it_decodes_rfc2047_and_raw_latin1_headers() -> None:
    block, _ = h.split(h.canonical(load("latin1-8bit.eml")))

    assert block.get_text("Subject") == "Réunion de juin"
    assert block.addresses("From") == [("François L.", "francois@exemple.fr")]


def test_it_ends_the_header_block_at_a_line_that_is_no_header() -> None:
    block, body = h.split(b"From: a@b.example\r\nnot a header\r\nmore\r\n")

    assert block.fields == [b"From: a@b.example\r\n"]
    assert body == b"not a header\r\nmore\r\n"


def test_it_never_lets_a_value_we_write_start_a_new_header() -> None:
    assert (
        h.fold_ascii("X-Test", "a\r\nBcc: victim@example.com")
        == b"X-Test: a Bcc: victim@example.com\r\n"
    )
    assert b"\nBcc" not in h.fold_address(
        "From", h.format_address("Eve\r\nBcc: x@y.example", "l@x.example")
    )


def test_it_folds_long_ascii_values_without_encoding_urls() -> None:
    url = "https://lists.example.org/l/" + "a" * 90 + "/"
    field = h.fold_ascii(
        "List-Subscribe", f"<{url}>, <mailto:x-request@lists.example.org?subject=subscribe>"
    )

    assert field == (
        f"List-Subscribe: <{url}>,\r\n <mailto:x-request@lists.example.org?subject=subscribe>\r\n".encode()
    )
