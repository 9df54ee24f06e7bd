"""The database a child process (a command, a server) should use in a test."""

from __future__ import annotations

from pathlib import Path

from django.db import connections

from tests.mailfixtures import _postfix_instance, _ses_server, postfix, ses, test_ca  # noqa: E402,F401


def child_database_url() -> str:
    """A DATABASE_URL for the database the tests run on (for child processes)."""
    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
