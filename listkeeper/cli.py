"""The `listkeeper` console script: Django's management commands, our settings.

`listkeeper import-aliases` runs the command import_aliases: a hyphen in the
command name stands for an underscore.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    from django.core.management import execute_from_command_line

    args = sys.argv[1:]
    if args and "-" in args[0] and not args[0].startswith("-"):
        import django
        from django.core.management import get_commands

        django.setup()
        commands = get_commands()
        underscored = args[0].replace("-", "_")
        if args[0] not in commands and underscored in commands:
            args[0] = underscored
    execute_from_command_line([sys.argv[0], *args])


if __name__ == "__main__":
    main()
