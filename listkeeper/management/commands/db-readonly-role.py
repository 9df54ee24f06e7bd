"""`listkeeper db-readonly-role ROLE --password-file F`: the role Postfix looks lists up with.

Postfix queries the database directly for the list addresses it accepts (a
pgsql: map, always current). It does so with this role, which can log in and
read the lookup tables and nothing else, so a leak of Postfix's map file does
not expose members, password hashes or messages. Run on every start by the
`migrate` role of docker/entrypoint.sh: it creates the role, or resets its
password (rotation), and re-grants after migrations. On SQLite it does nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from listkeeper.lists.models import MailingList

_SAFE_PASSWORD = re.compile(r"[A-Za-z0-9._~-]{16,}")
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def lookup_tables() -> list[str]:
    """The tables Postfix's list-address query reads."""
    return [MailingList._meta.db_table]


class Command(BaseCommand):
    help = "Create or update the read-only PostgreSQL role Postfix uses for list lookups."

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help="role name, e.g. listkeeper_postfix")
        parser.add_argument("--password-file", required=True, help="file holding its password")

    def handle(self, *args: Any, role: str, password_file: str, **options: Any) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write(f"db-readonly-role: skipped, the database is {connection.vendor}")
            return
        if not _ROLE_NAME.fullmatch(role):
            raise CommandError(f"role name {role!r} must be lowercase letters, digits and _")
        try:
            password = Path(password_file).read_text().strip()
        except OSError as exc:
            raise CommandError(
                f"--password-file {password_file!r} cannot be read: {exc.strerror}"
            ) from exc
        if not _SAFE_PASSWORD.fullmatch(password):
            raise CommandError(
                f"the password in {password_file} must be at least 16 URL-safe characters "
                "(letters, digits, . _ ~ -); make one with: openssl rand -hex 32"
            )
        from psycopg import sql

        connection.ensure_connection()
        raw = connection.connection
        statements = []
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            exists = cursor.fetchone() is not None
        verb = "ALTER" if exists else "CREATE"
        statements.append(
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        statements.append(
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(
                sql.Identifier(role)
            )
        )
        statements.append(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(connection.settings_dict["NAME"]), sql.Identifier(role)
            )
        )
        statements.append(
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role))
        )
        tables = lookup_tables()
        statements.append(
            sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables), sql.Identifier(role)
            )
        )
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement.as_string(raw))
        self.stdout.write(
            f"db-readonly-role: {role} {'updated' if exists else 'created'}; "
            f"may read {', '.join(tables)}"
        )
