import pytest
from django.core.management import call_command
from django.db import IntegrityError

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_email_is_unique_whatever_its_case_in_the_database():
    User.objects.create(email="same@example.com")

    with pytest.raises(IntegrityError):
        User.objects.create(email="SAME@example.com")


def test_ids_are_uuids():
    user = User.objects.create_user(email="u@example.com", password="pw-long-enough-1")

    assert len(str(user.id)) == 36


def test_createsuperuser_noinput_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-strong-password-42")

    call_command("createsuperuser", "--noinput", verbosity=0)

    user = User.objects.get(email="root@example.com")
    assert user.is_staff
    assert user.is_superuser
    assert user.check_password("a-strong-password-42")
