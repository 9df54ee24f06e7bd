"""The only code that changes lists and membership.

Web views, the API, commands, imports and email commands call these functions
(`services.subscribe`, `services.bulk_subscribe`, ...), so validation, dedupe
and the audit log happen in one place.
"""

from listkeeper.lists.services.bounces import *  # noqa: F403
from listkeeper.lists.services.core import *  # noqa: F403
from listkeeper.lists.services.subscribe_many import *  # noqa: F403
