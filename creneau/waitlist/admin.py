"""An authority sets the priority order of offers here (data, no deploy)."""

from django.contrib import admin

from .models import PriorityBand


@admin.register(PriorityBand)
class PriorityBandAdmin(admin.ModelAdmin):
    list_display = ("min_age", "rank", "label")
    ordering = ("-min_age",)
