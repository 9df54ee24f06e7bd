# The ledger's chunks of a big list ask for the next N receiving subscriptions
# after a cursor, in id order; with `id` in the index PostgreSQL reads only
# those N entries instead of every subscription of the list (models.py).
# The new index is built before the old one, a prefix of it, goes.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lists", "0009_post_inbound_moved_to_mail"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                fields=["mailing_list", "status", "delivery", "id"], name="sub_list_receiving_idx"
            ),
        ),
        migrations.RemoveIndex(
            model_name="subscription",
            name="lists_subsc_mailing_0f9a80_idx",
        ),
    ]
