from django.contrib import admin

from listkeeper.lists import models


@admin.register(models.MailingList)
class MailingListAdmin(admin.ModelAdmin):
    list_display = ("local_part", "domain", "display_name", "posting_policy")
    search_fields = ("local_part", "domain", "display_name")


@admin.register(models.Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "created")
    search_fields = ("key", "name")
    # Changes to membership go through lists.services, so the admin only reads.
    readonly_fields = ("email", "key")


@admin.register(models.AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created", "actor", "action", "mailing_list", "member")
    list_filter = ("action",)
