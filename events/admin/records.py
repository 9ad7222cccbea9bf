"""Events with their deliveries, and delivery attempts, in the admin: read-only, but for
sending an event again (events.services)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin import ModelAdmin, ReadOnly
from common.api.errors import busy_retry_after
from events import services
from events.admin.selection import already_deleted, selected_gone
from events.models import EVENT_TYPES, Delivery, DeliveryAttempt, Event

# The most events one resend from the list takes: a few seconds' work in the request (a
# whole month's list selected, 300,000 events, outlived gunicorn's 30 s part way).
RESEND_MOST = 10_000


class DeliveryInline(ReadOnly, admin.TabularInline):
    model = Delivery
    fields = ["endpoint", "status", "attempts", "next_attempt_at", "last_error", "completed_at"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        """Each row shows its endpoint and, as its title, the event and the endpoint."""
        return super().get_queryset(request).select_related("event", "endpoint")


class EventTypeFilter(admin.SimpleListFilter):
    """The types the service emits (EVENT_TYPES), not the types found in the table."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(name, name) for name in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return queryset.filter(type=self.value())


@admin.register(Event)
class EventAdmin(ReadOnly, ModelAdmin):
    list_display = ["created_at", "type", "webhook_id"]
    # Newest first along the created_at index, by type along the type index, and dates by
    # the filter's ranges. Neither Django's filter on the field (the types found, by a
    # DISTINCT over every event) nor a date_hierarchy (the days found, likewise): each read
    # the whole table on every load.
    list_filter = [EventTypeFilter, ("created_at", admin.DateFieldListFilter)]
    readonly_fields = ["id", "type", "data", "created_at"]
    inlines = [DeliveryInline]
    actions = ["resend"]
    show_full_result_count = False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        """Events are read-only here; sending one again is for staff who may change events."""
        return request.user.has_perm("events.change_event")

    @admin.action(description="Resend to every active endpoint", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        """A thousand events per transaction (events_resend): one each took five statements
        per event, past gunicorn's timeout for a selection of thousands, killed part way.
        At most RESEND_MOST, which take a few seconds. One the purge deleted after the list
        was drawn is named as gone, the others still resent. A batch the database was too
        busy for after others had committed (events_resend's `left`) is named too: the busy
        page said nothing was resent, and a second resend sent the first part again. So are
        the events resent to no endpoint (theirs off, or no longer taking their type): the
        count of deliveries alone read as every event resent."""
        found = list(queryset.values_list("pk", flat=True)[: RESEND_MOST + 1])
        if len(found) > RESEND_MOST:
            message = (
                f"More than {RESEND_MOST:,} events selected: nothing was resent. Narrow the"
                " list by its filters (type, date) and resend each part."
            )
            self.message_user(request, message, messages.ERROR)
            return
        resent = services.events_resend(event_ids=found, actor_id=request.user.pk)
        gone = selected_gone(self, request, found) + resent.gone
        if resent.events:
            message = f"{resent.queued} deliveries queued again."
            self.message_user(request, message, messages.SUCCESS)
        if resent.unsent:
            message = (
                f"{resent.unsent:,} of the selected events were resent to no endpoint: none"
                " that they were sent to is on and still takes their type."
            )
            self.message_user(request, message, messages.WARNING)
        if resent.left:
            message = (
                f"The database was busy: {resent.left:,} of the {len(found):,} selected events"
                f" were not resent, the others were. Try again in {busy_retry_after()} seconds;"
                " resending them all sends the others again too."
            )
            self.message_user(request, message, messages.ERROR)
        if gone:
            message = already_deleted(gone, "event", by="the purge of old events")
            self.message_user(request, message, messages.WARNING)


class AnswerFilter(admin.SimpleListFilter):
    """The receiver's answer by class. Django's filter on the status code listed the codes
    found with a DISTINCT over every attempt, a read of the whole table on each load."""

    title = "answer"
    parameter_name = "answer"
    CLASSES = {"2xx": 200, "3xx": 300, "4xx": 400, "5xx": 500}

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [*((name, name) for name in self.CLASSES), ("none", "No answer")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "none":
            return queryset.filter(status_code__isnull=True)
        low = self.CLASSES.get(value)
        if low is None:
            return queryset
        return queryset.filter(status_code__gte=low, status_code__lt=low + 100)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnly, ModelAdmin):
    """Newest first along the created_at index (migration 0007), the one column it sorts by:
    the table gains a row for every attempt, and each other column's sort (the delivery's,
    by its hidden id) read and sorted all of it."""

    list_display = ["created_at", "delivery", "attempt", "status_code", "duration_ms", "error"]
    list_filter = [AnswerFilter]
    list_select_related = ["delivery__event", "delivery__endpoint"]
    ordering = ["-created_at", "-id"]
    sortable_by = ["created_at"]
    show_full_result_count = False
