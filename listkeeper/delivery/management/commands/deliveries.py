"""`listkeeper deliveries`: how far each recent fan-out has got."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from listkeeper.delivery.models import Delivery, JobState


class Command(BaseCommand):
    help = (
        "Progress per post: handed to Postfix / total (+ while a big list is still being recorded)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=20, help="how many, newest first")
        parser.add_argument("--open", action="store_true", help="only those still sending")

    def handle(self, *args: Any, **options: Any) -> None:
        qs = Delivery.objects.select_related("post__mailing_list", "digest__mailing_list").order_by(
            "-id"
        )
        if options["open"]:
            qs = qs.exclude(state=JobState.DONE)
        rows = list(qs.defer("message", "post__raw")[: options["limit"]])
        if not rows:
            self.stdout.write("No deliveries yet.")
            return
        self.stdout.write(
            f"{'id':>6}  {'state':<8} {'sent/total':>15} {'failed':>6}  {'created':<16}  what"
        )
        for d in rows:
            if d.digest is not None:
                what = f"{d.digest} ({d.digest_mode})"
            elif d.post is not None:
                what = f"{d.post.mailing_list.address}: {d.post.subject or '(no subject)'}"
            else:
                what = f"notice from {d.envelope_from}"
            progress = f"{d.handed_off}/{d.total}" + ("+" if d.expanding else "")
            self.stdout.write(
                f"{d.id:>6}  {d.state:<8} {progress:>15} {d.failed:>6}  "
                f"{d.created:%Y-%m-%d %H:%M}  {what[:80]}"
            )
