# The moved models get this app's table names (mail 0002 kept the lists_
# ones). Renaming keeps every row; foreign keys follow the table.
from django.db import migrations


def move_content_types(apps, schema_editor):
    """Keep permissions attached: lists.post becomes mail.post (same for inbound)."""
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in ("post", "inboundmessage"):
        if not content_type.objects.filter(app_label="mail", model=model).exists():
            content_type.objects.filter(app_label="lists", model=model).update(app_label="mail")


def restore_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in ("post", "inboundmessage"):
        if not content_type.objects.filter(app_label="lists", model=model).exists():
            content_type.objects.filter(app_label="mail", model=model).update(app_label="lists")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("mail", "0002_post_inboundmessage"),
        ("lists", "0009_post_inbound_moved_to_mail"),
    ]

    operations = [
        migrations.AlterModelTable(name="post", table=None),
        migrations.AlterModelTable(name="inboundmessage", table=None),
        migrations.RenameIndex(
            model_name="post",
            new_name="mail_post_mailing_dcd5ec_idx",
            old_name="lists_post_mailing_e3b3b4_idx",
        ),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
