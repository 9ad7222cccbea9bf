import factory

from accounts.models import User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password(PASSWORD)


def staff_in_role(*permissions: str, **fields) -> User:
    """A staff member whose permissions ("app_label.codename") come from a group, as an
    operator gives a role in the admin."""
    from django.contrib.auth.models import Group, Permission

    staff = UserFactory(is_staff=True, **fields)
    role = Group.objects.create(name=f"role of {staff.email}")
    for permission in permissions:
        app_label, codename = permission.split(".", 1)
        role.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    staff.groups.add(role)
    return staff
