from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry


def test_it_adds_a_list_sender_once_with_an_audit_entry(community) -> None:
    first = services.add_list_sender(
        community, "Alice@Example.com", "allowed", actor="mod@example.org"
    )
    again = services.add_list_sender(
        community, "alice@example.com", "allowed", actor="mod@example.org"
    )

    assert first == again and first.key == "alice@example.com"
    assert community.senders.count() == 1
    with pytest.raises(services.ServiceError, match="'friend' is not a kind of sender"):
        services.add_list_sender(community, "alice@example.com", "friend", actor="x")
    assert AuditEntry.objects.filter(action="sender.add").count() == 1
