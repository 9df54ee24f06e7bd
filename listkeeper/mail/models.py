from __future__ import annotations

from django.db import models

from listkeeper.lists.models import MailingList


class HeldNotice(models.Model):
    """When a list's moderators were last mailed about held posts, and up to which post.

    Keeps the held-post notice to at most one mail per list per hour.
    """

    mailing_list = models.OneToOneField(
        MailingList, on_delete=models.CASCADE, related_name="held_notice"
    )
    last_sent = models.DateTimeField(null=True, blank=True)
    # The newest held post the last notice listed; a newer one makes a notice due.
    last_post_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"held-post notice for {self.mailing_list}"
