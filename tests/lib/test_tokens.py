from __future__ import annotations

import pytest

from listkeeper.lib import tokens


def test_it_round_trips_a_verp_token_that_is_a_valid_local_part() -> None:
    token = tokens.verp_token(123456)
    assert token.isalnum() and token == token.lower()
    assert tokens.read_verp_token(token) == 123456


def test_it_refuses_a_tampered_verp_token() -> None:
    token = tokens.verp_token(42)
    forged = tokens.verp_token(43)[:13] + token[13:]
    with pytest.raises(tokens.BadToken):
        tokens.read_verp_token(forged)


def test_it_refuses_an_unsubscribe_token_used_as_a_confirm_token() -> None:
    with pytest.raises(tokens.BadToken):
        tokens.read_confirm_token(tokens.unsubscribe_token(1, 2))
