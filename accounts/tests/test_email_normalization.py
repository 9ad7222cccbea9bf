"""Addresses normalized to lower case whatever letters NFKC makes of them (a mathematical
bold capital, a double-struck letter): sign-in finds them as typed, and the migration
never writes an address whose lower case another user has."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection

from accounts.models import User, normalize_email
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
# U+1D400 MATHEMATICAL BOLD CAPITAL A: str.lower() leaves it, NFKC makes it "A".
BOLD_A = "\U0001d400"
# U+210D DOUBLE-STRUCK CAPITAL H: the same, and Django's EmailValidator takes it in a domain.
DOUBLE_STRUCK_H = "\u210d"


def test_a_normalized_address_is_lower_case():
    assert normalize_email(f"{BOLD_A}lice@example.com") == "alice@example.com"


def test_an_address_registered_as_typed_signs_in_as_typed(api_client):
    typed = f"bob@{DOUBLE_STRUCK_H}ost.example"  # stored as "bob@Host.example"

    registered = api_client.post(REGISTER, {"email": typed, "password": PASSWORD}, format="json")
    assert registered.status_code == 201, registered.json()

    login = api_client.post(LOGIN, {"email": typed, "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.json()


def test_the_migration_leaves_an_address_whose_form_another_user_has():
    """Data as stored before 0003: "alice@..." and the bold-A spelling (two accounts)."""
    UserFactory(email="alice@example.com")
    other = UserFactory(email="bob@example.com")
    User.objects.filter(pk=other.pk).update(email=f"{BOLD_A}lice@example.com")
    migration = importlib.import_module("accounts.migrations.0003_emails_normalized")

    with connection.schema_editor() as editor:
        migration.normalize(global_apps, editor)  # IntegrityError: accounts_user_email_ci_unique

    assert User.objects.get(pk=other.pk).email == f"{BOLD_A}lice@example.com"


@pytest.mark.parametrize(
    ("registered", "again"),
    [
        ("user@ex\u00e4mple.com", "user@xn--exmple-cua.com"),  # the same domain's A-label
        ("user@xn--exmple-cua.com", "user@ex\u00e4mple.com"),
        ("user@example.com", "user@exam\u00adple.com"),  # a soft hyphen: invisible
        ("user@example.com", "user@exa\u200bmple.com"),  # a zero-width space
        ("user@strasse.de", "user@stra\u00dfe.de"),
    ],
)
def test_one_domain_in_another_idna_spelling_is_the_address_taken(api_client, registered, again):
    """A domain's `xn--` and Unicode spellings, and one with an invisible soft hyphen or
    zero-width space that IDNA drops, name one domain: the one Django's mail sends to
    (sanitize_address gives "user@example.com" for both of the third pair). Each was a second
    account for the same mailbox, shown in the admin and on invoices as the same address.
    Now the second is refused as taken, and signing in with it finds the first."""
    first = api_client.post(REGISTER, {"email": registered, "password": PASSWORD}, format="json")
    assert first.status_code == 201, first.json()
    before = list(User.objects.values_list("id", "email"))

    second = api_client.post(REGISTER, {"email": again, "password": PASSWORD}, format="json")
    login = api_client.post(LOGIN, {"email": again, "password": PASSWORD}, format="json")

    assert (second.status_code, second.json().get("fields")) == (
        400,
        {"email": ["A user with this email address already exists."]},
    )
    assert list(User.objects.values_list("id", "email")) == before
    assert (login.status_code, login.json()["user"]["id"]) == (200, first.json()["id"])


def test_the_migration_brings_stored_domains_to_their_idna_form_unless_taken():
    """Addresses stored before normalize_email mapped domains through IDNA: the `xn--`
    spelling becomes the Unicode one sign-in now looks up; one whose new form another user
    has is left for staff."""
    spelled, clash = UserFactory(), UserFactory()
    UserFactory(email="user@example.com")
    User.objects.filter(pk=spelled.pk).update(email="user@xn--exmple-cua.com")
    User.objects.filter(pk=clash.pk).update(email="user@exam\u00adple.com")
    migration = importlib.import_module("accounts.migrations.0004_email_domains_idna")

    migration.normalize(global_apps, None)

    assert User.objects.get(pk=spelled.pk).email == "user@ex\u00e4mple.com"
    assert User.objects.get(pk=clash.pk).email == "user@exam\u00adple.com"
