"""The superuser's maintenance tool. Authorities edit rules in the back office
(`/backoffice/eligibilite/`: previewed, audited); a change made here is neither.

Each save or deletion forgets this process's cached rules once committed, so the change
applies here at once and in other processes within RULES_CACHE_SECONDS.
"""

from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .models import Category, EligibilityRule
from .selectors import rules_cache_clear


class _ForgetCachedRules(admin.ModelAdmin):
    def save_related(self, request, form, formsets, change):
        # Called after the many-to-many fields are saved, unlike save_model.
        super().save_related(request, form, formsets, change)
        transaction.on_commit(rules_cache_clear)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(rules_cache_clear)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(rules_cache_clear)


@admin.register(Category)
class CategoryAdmin(_ForgetCachedRules):
    list_display = ["code", "label", "label_en", "position"]
    search_fields = ["code", "label", "label_en"]

    # Sites and persons store the code: renaming or deleting it would orphan them.
    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EligibilityRule)
class EligibilityRuleAdmin(_ForgetCachedRules):
    list_display = [
        "name",
        "effective_from",
        "effective_until",
        "min_age",
        "max_age",
        "dose_numbers",
        "active",
        "updated_at",
    ]
    list_filter = ["active", "categories", "vaccines", "effective_from"]
    search_fields = ["name", "slug", "explanation"]
    ordering = ["-effective_from", "name"]
    date_hierarchy = "effective_from"
    filter_horizontal = ["categories", "vaccines"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "active"]}),
        (_("Affiché aux personnes"), {"fields": ["explanation", "explanation_en"]}),
        (_("Qui"), {"fields": ["min_age", "max_age", "categories"]}),
        (_("Quoi"), {"fields": ["vaccines", "dose_numbers"]}),
        (_("Quand"), {"fields": ["effective_from", "effective_until", "within_hours"]}),
        (None, {"fields": ["updated_at"]}),
    ]
