# Post and InboundMessage now live in the mail app (mail 0002): drop them from
# this app's state only; their tables stay and are renamed by mail 0003.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("lists", "0008_member_language"),
        ("mail", "0002_post_inboundmessage"),
        ("delivery", "0005_post_in_mail_app"),
        ("feedback", "0003_post_in_mail_app"),
        ("archive", "0003_post_in_mail_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Post"),
                migrations.DeleteModel(name="InboundMessage"),
            ],
            database_operations=[],
        ),
    ]
