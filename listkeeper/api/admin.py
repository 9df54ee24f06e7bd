from django.contrib import admin

from listkeeper.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "name", "user", "created", "last_used")
    readonly_fields = ("hint", "key_hash", "created", "last_used")
