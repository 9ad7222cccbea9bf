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
