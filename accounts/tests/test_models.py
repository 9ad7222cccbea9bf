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


@pytest.mark.sqlite
def test_the_database_raises_sessions_ended_on_each_deactivation_whoever_writes():
    """psql's `UPDATE ... SET is_active = false`, a shell's save(): each ends the user's
    sessions as the admin's deactivation does; a write that leaves the user active, or
    inactive, does not."""
    user = User.objects.create_user(email="u@example.com", password="pw-long-enough-1")
    users = User.objects.filter(pk=user.pk)

    users.update(is_active=False)
    users.update(is_active=False)
    users.update(is_active=True)
    users.update(is_staff=True)
    user.refresh_from_db()
    user.is_active = False
    user.save()

    assert users.get().sessions_ended == 2


@pytest.mark.sqlite
def test_the_database_never_lowers_sessions_ended():
    """Saving a User read before a deactivation writes its old count: the sessions the
    deactivation ended would work again."""
    user = User.objects.create_user(email="u@example.com", password="pw-long-enough-1")
    read_before = User.objects.get(pk=user.pk)
    User.objects.filter(pk=user.pk).update(is_active=False)

    read_before.save()

    assert User.objects.get(pk=user.pk).sessions_ended == 1
