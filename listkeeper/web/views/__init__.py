"""Views of the owners' interface, one module per page family."""

from listkeeper.web.views.status import status

__all__ = ["status"]
