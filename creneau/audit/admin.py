from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, and only the services append to it."""

    list_display = ["at", "actor_label", "action", "object_type", "object_id", "site", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_id", "summary"]
    date_hierarchy = "at"
    list_select_related = ["site"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
