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


def test_it_makes_the_same_unsubscribe_tokens_as_before_without_trying_to_compress() -> None:
    from django.core import signing

    from listkeeper.lib import tokens

    for ids in [(1, 1), (12, 34567), (999999, 2**40)]:
        compressed = signing.dumps(list(ids), salt="listkeeper.unsubscribe", compress=True)
        assert tokens.unsubscribe_token(*ids) == compressed
        assert tokens.read_unsubscribe_token(compressed) == ids


def test_the_fast_unsubscribe_token_is_djangos_byte_for_byte_under_any_key(
    settings, monkeypatch
) -> None:
    import time

    from django.core import signing

    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)  # both read the same second
    for secret in ("first-secret-key-" * 3, "another-secret-key-" * 3):
        settings.SECRET_KEY = secret
        for ids in [(1, 1), (12, 34567), (999999, 2**40)]:
            django_made = signing.dumps(list(ids), salt="listkeeper.unsubscribe", compress=False)
            assert tokens.unsubscribe_token(*ids) == django_made
            assert tokens.read_unsubscribe_token(django_made) == ids


def test_a_verp_token_made_under_one_key_does_not_verify_under_another(settings) -> None:
    settings.SECRET_KEY = "first-secret-key-" * 3
    token = tokens.verp_token(42)
    assert tokens.read_verp_token(token) == 42
    settings.SECRET_KEY = "another-secret-key-" * 3
    assert tokens.verp_token(42) != token
    with pytest.raises(tokens.BadToken):
        tokens.read_verp_token(token)
