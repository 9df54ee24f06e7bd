# The foreign key follows Post to the mail app (state only; see mail 0002).
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0002_bounce_probe"),
        ("mail", "0002_post_inboundmessage"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="deliveryevent",
                    name="post",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="mail.post",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
