from __future__ import annotations

import pytest

from listkeeper.lists import services


@pytest.fixture
def community(db):
    return services.create_list("community", "lists.example.org", actor="test", display_name="Community")
