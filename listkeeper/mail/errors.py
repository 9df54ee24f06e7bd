"""How a rule stops a post: raise one of these with a reason a moderator can read."""

from __future__ import annotations


class Stop(Exception):
    """A rule's verdict other than accept; str() is the reason stored on the post."""

    status = ""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Hold(Stop):
    """Keep the post for a moderator to approve, reject or discard."""

    status = "held"


class Reject(Stop):
    """Refuse the post and tell the poster why."""

    status = "rejected"


class Discard(Stop):
    """Drop the post silently (loops, banned senders): telling anyone would make noise."""

    status = "discarded"
