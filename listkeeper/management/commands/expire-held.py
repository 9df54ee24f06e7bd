"""listkeeper expire-held: drop held posts older than their list's held_expiry_days.

Run it from cron (or a systemd timer) about hourly; the senders are told.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from listkeeper.mail import process


class Command(BaseCommand):
    help = "Expire held posts past their list's expiry; the senders are told."

    def handle(self, *args: Any, **options: Any) -> None:
        count = process.expire_held()
        self.stdout.write(f"Expired {count} held post{'s' if count != 1 else ''}.")
