"""The worker's task results in the admin: django_tasks_db's own page (read-only), on the
project's list, so a filter the database cannot run (`?status__exact=x%00`,
`?priority__in=99999999999999999999`) is the list's "?e=1" page and not a 500."""

from __future__ import annotations

from django.contrib import admin
from django_tasks_db.admin import DBTaskResultAdmin as TasksDBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from common.admin import ModelAdmin

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class DBTaskResultAdmin(ModelAdmin, TasksDBTaskResultAdmin):
    pass
