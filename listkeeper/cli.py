"""The `listkeeper` console script: Django's management commands, our settings.

Our command modules are named as they are typed (`import-aliases.py`), so
`listkeeper import-aliases` needs no translation.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], *sys.argv[1:]])


if __name__ == "__main__":
    main()
