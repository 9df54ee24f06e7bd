# The foreign keys follow Post to the mail app (state only: same table, same
# column; see mail 0002).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0004_digests"),
        ("mail", "0002_post_inboundmessage"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="post",
                    field=models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="delivery",
                        to="mail.post",
                    ),
                ),
                migrations.AlterField(
                    model_name="digestentry",
                    name="post",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="digest_entry",
                        to="mail.post",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
