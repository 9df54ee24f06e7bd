from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.mail import rules
from listkeeper.mail.errors import Reject
from tests.support.mail import load, make_ctx


def test_it_rejects_a_post_over_the_lists_limit_naming_both_sizes(ml) -> None:
    services.update_list(ml, actor="test", max_message_size=1000)
    raw = load("html-text-attachment.eml")

    with pytest.raises(Reject) as stop:
        rules.size(make_ctx(ml, raw))

    assert f"{len(raw)} bytes" in stop.value.reason
    assert "at most 1 KB (1000 bytes)" in stop.value.reason


def test_it_accepts_a_post_within_the_limit(ml) -> None:
    raw = load("plain.eml")
    services.update_list(ml, actor="test", max_message_size=len(raw))

    assert rules.size(make_ctx(ml, raw)) is None
