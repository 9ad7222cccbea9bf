"""Webhook endpoints in the admin. Writes go through events.services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.db import OperationalError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from common.admin import TrimmedTextModelAdmin
from common.api.errors import busy_retry_after
from common.db import database_busy
from common.errors import InvalidState, NotFound
from events import services
from events.admin.selection import already_deleted, selected_gone
from events.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.services.endpoints import DELETING


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TrimmedTextModelAdmin):
    """Endpoints are created through the API, which shows their secret once. The description
    is trimmed as the API trims it."""

    list_display = ["url", "is_active", "failing_since", "disabled_at", "created_at"]
    list_filter = ["is_active", ("failing_since", admin.EmptyFieldListFilter)]
    search_fields = ["url", "description"]
    fields = [
        "url",
        "description",
        "event_types",
        "is_active",
        "failing_since",
        "failed_attempts",
        "paused_until",
        "pause_lifted_at",
        "disabled_at",
        "disabled_reason",
        "created_at",
    ]
    readonly_fields = [f for f in fields if f not in ("description",)]
    # delete_selected named here, or the site's own runs in place of this class's.
    actions = ["delete_selected", "ping", "turn_on", "lift_pause"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        services.endpoint_update(endpoint_id=obj.pk, description=obj.description)

    def get_deleted_objects(self, objs, request: HttpRequest):
        """What the delete pages list: the endpoints, with how many deliveries and attempts go
        with them, counted rather than listed (a busy endpoint has hundreds of thousands,
        each a row loaded and a line drawn). The deletion (endpoint_delete) removes them as
        part of the endpoint, so deleting endpoints is all the permission it needs: Django's
        own collector asked for the permission to delete delivery attempts, which their
        read-only admin gives no one, and refused every endpoint that had ever been sent an
        attempt."""
        endpoints = list(objs)
        ids = [endpoint.pk for endpoint in endpoints]
        model_count = {
            WebhookEndpoint._meta.verbose_name_plural: len(endpoints),
            Delivery._meta.verbose_name_plural: Delivery.objects.filter(
                endpoint_id__in=ids
            ).count(),
            DeliveryAttempt._meta.verbose_name_plural: DeliveryAttempt.objects.filter(
                delivery__endpoint_id__in=ids
            ).count(),
        }
        listed = [f"{WebhookEndpoint._meta.verbose_name}: {endpoint}" for endpoint in endpoints]
        return listed, model_count, set(), []

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        """Django's page, saying how the deletion went once it has run, after the page's
        transaction (delete_model): a database too busy for it (a lock held past the lock
        timeout) was the busy page's "nothing was done", where Django had already said and
        logged the endpoint deleted, and the endpoint was off and partly emptied if a later
        batch was the one held up. Now the endpoint's page again, saying what is left."""
        try:
            response = super().delete_view(request, object_id, extra_context)
        except EndpointsNotDeleted as refusal:
            refusal.tell(self, request)
            if refusal.gone:
                return self.response_delete(request, "", object_id)
            return HttpResponseRedirect(
                reverse("admin:events_webhookendpoint_change", args=[object_id])
            )
        deleted = getattr(request, "webhook_endpoints_deleted", None)
        if deleted:
            self.message_user(
                request,
                f"The webhook endpoint “{deleted[0]}” was deleted successfully.",
                messages.SUCCESS,
            )
        return response

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id) -> HttpResponse:
        """Django's redirect without its "deleted successfully", said too early: the
        deletion runs once the page's transaction has committed (delete_view says it)."""
        if self.has_view_or_change_permission(request):
            return HttpResponseRedirect(reverse("admin:events_webhookendpoint_changelist"))
        return HttpResponseRedirect(reverse("admin:index"))

    def log_deletions(self, request: HttpRequest, queryset) -> list:
        """Nothing before the deletion: each endpoint's is logged once it is gone
        (_delete), never for one the database was too busy to delete."""
        return []

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        """After the delete page's transaction commits (Django runs the page in one): inside
        it, the deletion's own transactions would be one, and the endpoint would stay locked,
        and on for emitting, until the last of its deliveries was gone. Raises
        EndpointsNotDeleted there, which delete_view answers."""
        transaction.on_commit(lambda: self._delete_all(request, [obj]))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        """One endpoint at a time through the service, which locks in the worker's order.
        Raises EndpointsNotDeleted, which the delete_selected action answers."""
        self._delete_all(request, list(queryset))

    @admin.action(
        description=admin_actions.delete_selected.short_description, permissions=["delete"]
    )
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]):
        """Django's, saying which endpoints the database was too busy to delete, and what is
        left of each, where its "Successfully deleted" counted them too; and how many of
        those selected were deleted by someone else before it read them, which it passed by
        without a word. The selection is read once, here, and Django's action works on
        those rows (the queryset's cache)."""
        found = [endpoint.pk for endpoint in queryset]
        gone = selected_gone(self, request, found) if request.POST.get("post") else 0
        try:
            response = admin_actions.delete_selected(self, request, queryset)
        except EndpointsNotDeleted as refusal:
            if refusal.deleted:
                self.message_user(
                    request, f"Deleted {refusal.deleted} webhook endpoints.", messages.SUCCESS
                )
            refusal.tell(self, request)
            response = None
        if gone and response is None:
            message = already_deleted(gone, "endpoint", by="someone else")
            self.message_user(request, message, messages.WARNING)
        return response

    def _delete_all(self, request: HttpRequest, endpoints: list[WebhookEndpoint]) -> None:
        """Deletes each endpoint and logs it once gone. One another session deleted since the
        page read it is passed by, logged by that session only; one the database is too busy
        for is passed by too, the others deleted; then raises EndpointsNotDeleted saying which
        were gone already and what is left of each passed by."""
        deleted, refusals, gone = [], [], []
        for endpoint in endpoints:
            try:
                services.endpoint_delete(endpoint_id=endpoint.pk)
            except NotFound:
                gone.append(f"“{endpoint}” was already deleted by someone else: nothing was done.")
                continue
            except OperationalError as error:
                if not database_busy(error):
                    raise
                refusals.append(_not_deleted(endpoint))
                continue
            super().log_deletions(request, [endpoint])
            deleted.append(str(endpoint))
        request.webhook_endpoints_deleted = deleted
        if refusals or gone:
            raise EndpointsNotDeleted(deleted=len(deleted), messages=refusals, gone=gone)

    @admin.action(description="Send a test ping", permissions=["change"])
    def ping(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            services.endpoint_ping,
            done="Ping queued.",
            refused="Not queued",
        )

    @admin.action(description="Turn on again (forgets past failures)", permissions=["change"])
    def turn_on(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        self._each(
            request,
            queryset,
            partial(services.endpoint_update, is_active=True),
            done="Turned on.",
            refused="Not turned on",
        )

    @admin.action(description="Send now: lift the receiver's pause", permissions=["change"])
    def lift_pause(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        """Turning it off and on also lifts the pause, but gives up every pending delivery."""
        self._each(
            request,
            queryset,
            services.endpoint_pause_lift,
            done="Pause lifted: pending deliveries are due now.",
            refused="Not lifted",
        )

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[WebhookEndpoint],
        act: Callable[..., object],
        *,
        done: str,
        refused: str,
    ) -> None:
        """An action on each selected endpoint on its own, as this staff member: one the
        service refuses (being deleted, gone meanwhile) is named, the others still done; one
        deleted before the action read it is counted (it was passed by without a word). One
        the database is too busy for (a lock held past the lock timeout) is named too, the
        others still done: it was the busy page's "nothing was done", after those before it
        had been done, and done again by the second try (a second ping)."""
        succeeded, refusals = 0, []
        found = list(queryset.values_list("pk", "url"))
        gone = selected_gone(self, request, [endpoint_id for endpoint_id, _ in found])
        if gone:
            refusals.append(already_deleted(gone, "endpoint", by="someone else"))
        for endpoint_id, url in found:
            try:
                act(endpoint_id=endpoint_id, actor_id=request.user.pk)
            except (InvalidState, NotFound) as refusal:
                refusals.append(f"{url}: {refusal}")
            except OperationalError as error:
                if not database_busy(error):
                    raise
                refusals.append(
                    f"{url}: the database was busy, nothing was changed. Try again in"
                    f" {busy_retry_after()} seconds."
                )
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, done, messages.SUCCESS)
        for refusal in refusals:
            self.message_user(request, f"{refused}: {refusal}", messages.ERROR)


class EndpointsNotDeleted(Exception):
    """Endpoints the database was too busy to delete (a lock held past the lock timeout),
    and what is left of each; and those another session had deleted already."""

    def __init__(self, *, deleted: int, messages: list[str], gone: Sequence[str] = ()) -> None:
        super().__init__(" ".join([*gone, *messages]))
        self.deleted, self.messages, self.gone = deleted, messages, list(gone)

    def tell(self, model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
        """The endpoints gone already, as warnings (nothing is wrong), then those left."""
        for message in self.gone:
            model_admin.message_user(request, message, messages.WARNING)
        for message in self.messages:
            model_admin.message_user(request, message, messages.ERROR)


def _not_deleted(endpoint: WebhookEndpoint) -> str:
    """What is left of an endpoint whose deletion the database was too busy for: nothing
    changed, or turned off and partly emptied (its first transaction done), for the deletion
    again to finish."""
    deleting = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, is_active=False, disabled_reason=DELETING
    ).exists()
    if deleting:
        return (
            f"“{endpoint}” is turned off and partly deleted: the database was busy. "
            "Delete it again to finish."
        )
    return (
        f"“{endpoint}” was not deleted: the database was busy, nothing was changed. "
        f"Try again in {busy_retry_after()} seconds."
    )
