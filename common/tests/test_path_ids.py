"""Ids in paths are taken in either case, as in bodies and query strings: a client that keeps
ids in upper case reads its own objects, and another user's answer the same as none."""

import re
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import UUIDConverter

from accounts.tests.factories import UserFactory
from billing.tests.helpers import checkout
from catalog.tests.factories import TokenBundleFactory
from conftest import client_for
from tokens import services as token_services
from tokens.ledger import Work
from tokens.tests.factories import fund

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def route_converters(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        for converter in getattr(pattern.pattern, "converters", {}).values():
            yield route, converter
        if isinstance(pattern, URLResolver):
            yield from route_converters(pattern.url_patterns, route)
        else:
            assert isinstance(pattern, URLPattern)


def test_no_path_takes_ids_in_lower_case_only():
    lower_only = [
        route
        for route, converter in route_converters(get_resolver().url_patterns)
        if isinstance(converter, UUIDConverter)
    ]

    assert lower_only == []


def owned_by(user) -> dict[str, UUID]:
    """One of each object a user reads by id in a path."""
    fund(user, 100)
    used = token_services.usage_record(user_id=user.pk, work=Work(amount=2, usage_key="u"))
    held = token_services.hold_create(user_id=user.pk, amount=3)
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    return {
        "invoice": invoice.pk,
        "usage": used.usage.pk,
        "hold": held.hold.pk,
        "transaction": used.entry.pk,
    }


ROUTES = {
    "invoice": "/api/v1/user/invoices/{}",
    "usage": "/api/v1/user/usage/{}",
    "hold": "/api/v1/user/holds/{}",
    "transaction": "/api/v1/user/tokens/transactions/{}",
}


@pytest.mark.parametrize("kind", ROUTES)
def test_an_id_in_upper_case_reads_the_users_own_object(user, kind):
    own = owned_by(user)[kind]
    client = client_for(user)

    lower = client.get(ROUTES[kind].format(str(own)))
    upper = client.get(ROUTES[kind].format(str(own).upper()))

    assert (upper.status_code, upper.json()) == (200, lower.json())


@pytest.mark.parametrize("kind", ROUTES)
def test_another_users_id_in_upper_case_answers_as_an_unknown_id_does(user, kind):
    theirs = owned_by(UserFactory())[kind]
    client = client_for(user)

    foreign = client.get(ROUTES[kind].format(str(theirs).upper()))
    unknown = client.get(ROUTES[kind].format(str(uuid4()).upper()))

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


def without_form_tokens(page: bytes) -> bytes:
    """A page with its CSRF tokens blanked: each rendering masks the token anew (the 404
    page's header has the sign-out form), and nothing else may tell two 404s apart."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", page)


def test_the_invoice_page_takes_its_id_in_upper_case(client, user):
    invoice = checkout(user, bundles=[TokenBundleFactory(price=Decimal("5.00"))]).invoice
    theirs = checkout(UserFactory(), bundles=[TokenBundleFactory()]).invoice
    client.force_login(user)
    page = reverse("pages:invoice", args=[invoice.pk])

    own = client.get(page.replace(str(invoice.pk), str(invoice.pk).upper()))
    foreign = client.get(page.replace(str(invoice.pk), str(theirs.pk).upper()))
    unknown = client.get(page.replace(str(invoice.pk), str(uuid4()).upper()))

    assert (own.status_code, foreign.status_code, unknown.status_code) == (200, 404, 404)
    assert own.context["view"].invoice.pk == invoice.pk
    assert without_form_tokens(foreign.content) == without_form_tokens(unknown.content)
    assert page == f"/invoices/{invoice.pk}"


def test_a_retry_naming_the_user_in_the_other_case_is_the_same_request(service, user):
    """The idempotency key's request is the same whichever case the path's ids are in: the
    retry replays the first answer, not a 422 for another request."""
    fund(user, 100)
    path = "/api/v1/users/{}/usage"
    key = {"HTTP_IDEMPOTENCY_KEY": "job-7"}

    first = service.post(path.format(str(user.pk).upper()), {"amount": 5}, **key)
    retry = service.post(path.format(str(user.pk)), {"amount": 5}, **key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert (retry.json(), retry.headers.get("Idempotent-Replayed")) == (first.json(), "true")
